/**
 * Kernel cost per program run, measured in isolation with BPF_PROG_TEST_RUN (no scheduling noise from
 * other work on the machine): the per-packet cgroup_skb path for a packet of a known flow, a TCP packet
 * with a flag the programs report (one ring-buffer record per run), and a new flow per run.
 * The live per-program figures (bpf_stats) are printed by datapath.ts and ingest.ts.
 *   node --import tsx bench/agent/prog-cost.ts   (env: REPEAT=1000000)
 */
import { DEFAULT_OBJECT_PATH } from "../../agent/kernel/capture";
import { loadNative } from "../../agent/kernel/native";

const REPEAT = Number(process.env.REPEAT ?? 1_000_000);

/** Ethernet + IPv4 + TCP (20-byte header, no options) + payload, addresses from 198.18.2.0/24. */
function tcpPacket(flags: number, sport: number, payload = 64): Buffer {
  const p = Buffer.alloc(14 + 20 + 20 + payload);
  p.writeUInt16BE(0x0800, 12);
  const ip = 14;
  p[ip] = 0x45;
  p.writeUInt16BE(20 + 20 + payload, ip + 2);
  p[ip + 8] = 64;
  p[ip + 9] = 6;
  Buffer.from([198, 18, 2, 10]).copy(p, ip + 12);
  Buffer.from([198, 18, 2, 11]).copy(p, ip + 16);
  const tcp = ip + 20;
  p.writeUInt16BE(sport, tcp);
  p.writeUInt16BE(5201, tcp + 2);
  p[tcp + 12] = 5 << 4;
  p[tcp + 13] = flags;
  return p;
}

function main(): void {
  const native = loadNative();
  const obj = new native.BpfObject(DEFAULT_OBJECT_PATH, { maxEntries: { fl_events: 1 << 26, fl_flows: 1 << 16 } });
  try {
    const run = (label: string, prog: string, packet: Buffer, repeat: number) => {
      obj.testRun(prog, packet, 1); // creates the flow
      const { nsPerRun, retval } = obj.testRun(prog, packet, repeat);
      console.log(`  ${label.padEnd(52)} ${String(nsPerRun).padStart(5)} ns/run  (retval ${retval}, ${repeat} runs)`);
    };
    console.log(`${native.possibleCpus()} possible CPUs; BPF_PROG_TEST_RUN averages:`);
    run("fl_cgroup_egress, ACK on a known flow", "fl_cgroup_egress", tcpPacket(0x10, 40000), REPEAT);
    run("fl_cgroup_ingress, ACK on a known flow", "fl_cgroup_ingress", tcpPacket(0x10, 40001), REPEAT);
    run("fl_cgroup_egress, FIN+ACK (a tcp_flags record per run)", "fl_cgroup_egress", tcpPacket(0x11, 40002), 100_000);
    // A new flow per run: a new source port each call, one run per call (so also counts the syscall).
    const t0 = process.hrtime.bigint();
    let ns = 0;
    const flows = 20_000;
    for (let i = 0; i < flows; i++) ns += obj.testRun("fl_cgroup_egress", tcpPacket(0x02, 1024 + (i % 60000)), 1).nsPerRun;
    const wall = Number(process.hrtime.bigint() - t0) / flows;
    console.log(`  ${"fl_cgroup_egress, SYN of a new flow (flow_start record)".padEnd(52)} ${(ns / flows).toFixed(0).padStart(5)} ns/run  (${flows} runs; ${wall.toFixed(0)} ns per syscall round trip)`);
  } finally {
    obj.close();
  }
}

main();
