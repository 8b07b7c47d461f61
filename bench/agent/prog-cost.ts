/**
 * Kernel cost per run of the per-packet cgroup_skb programs, for one or more builds of the object side by side.
 * - Isolated: BPF_PROG_TEST_RUN (no scheduling noise, but a hot cache): a packet of a known flow, a TCP packet
 *   with a flag the programs report (one ring-buffer record per run), and a new flow per run.
 * - Live: the programs attached as the agent attaches them (the socket programs too, when the object has
 *   them: established sockets then count on TCP's counters) to two test pods' cgroup subtree (netns on a
 *   bridge with no uplink, 198.18.2.0/24) while bench/agent/tools/rr runs 64-byte request/response between them (client and server
 *   pinned to one CPU), with bpf_stats on. Objects take turns in short blocks ordered A B B A, so drift cancels;
 *   the figures are each object's totals over its blocks, and the last column compares it with the first object.
 *   bpf_stats adds two clock reads to every run, the same for every object.
 * - Latency only (STATS=0): the same alternation with bpf_stats off, so the round trip's percentiles compare the
 *   objects' true cost. An object named `none` attaches nothing; `empty-hooks`, `empty-ingress` and
 *   `empty-egress` are built from tools/empty-hooks.bpf.c, cgroup_skb programs that only let the packet through:
 *   OBJECTS=none,empty-ingress,empty-egress,empty-hooks,<built object> shows what the kernel's hooks cost by
 *   themselves and what the agent's programs add on top.
 * - Paired (PAIRED=1, bpf_stats off): round trips alternate between a connection the object observes and
 *   an unobserved twin (bench/agent/paired-pods.ts); each block gives each percentile of the observed one over
 *   the unobserved one, so what the object adds to an observed socket stands out from the machine's noise.
 *   Its cost to packets it does not observe (the NAT tracepoint) strikes both alike and does not show.
 *   node --import tsx bench/agent/prog-cost.ts
 *   env: OBJECTS=a.bpf.o,b.bpf.o (default: the built object)  REPEAT=1000000  ROUNDS=4  BLOCK_SECONDS=1  CPU=1
 *        STATS=1 (0: bpf_stats off, latency only)  NAT=0 (1: also attach the egress NAT tracepoint, where the object has it)
 *        PAIRED=0 (1: observed against unobserved round trips, side by side)
 */
import * as path from "node:path";
import { DEFAULT_OBJECT_PATH, OPTIONAL_PROGRAMS, setObservedRoot, TRACING_PROGRAMS } from "../../agent/kernel/capture";
import { resolveCgroupRoot } from "../../agent/kernel/cgroup-scope";
import { loadNative, type NativeBpfObject, type NativeModule } from "../../agent/kernel/native";
import { TestPods } from "../../test/agent/kernel/pods";
import { buildEmptyHooks, buildTool, EMPTY_HOOK_OBJECTS, envCpuList, envNumber, loadAverage, runAsync, withBpfStats } from "./common";
import { parseHistogram, PooledHistogram } from "./latency-histogram";
import { pairedRatios } from "./paired-ratio";
import { PairedPods } from "./paired-pods";

const REPEAT = envNumber("REPEAT", 1_000_000, (n) => Number.isInteger(n) && n >= 1000, "a whole number of runs, at least 1000");
const ROUNDS = envNumber("ROUNDS", 4, (n) => Number.isInteger(n) && n >= 1, "a whole number of A B B A rounds, at least 1");
const BLOCK_SECONDS = envNumber("BLOCK_SECONDS", 1, (n) => n >= 0.1, "seconds of request/response per block, at least 0.1");
const CPU = envCpuList("CPU", "1");
const NO_OBJECT = "none";
const OBJECT_NAMES = (process.env.OBJECTS || DEFAULT_OBJECT_PATH).split(",");
const OBJECTS = OBJECT_NAMES.map((p) => (p === NO_OBJECT ? p : p in EMPTY_HOOK_OBJECTS ? buildEmptyHooks(p) : path.resolve(p)));
/** The empty-hook objects: nothing to time in isolation. */
const EMPTY_HOOK_PATHS = new Set(OBJECTS.filter((_, i) => OBJECT_NAMES[i] in EMPTY_HOOK_OBJECTS));
const STATS = envNumber("STATS", 1, (n) => n === 0 || n === 1, "1 (bpf_stats on) or 0 (off, latency only)") === 1;
const NAT = envNumber("NAT", 0, (n) => n === 0 || n === 1, "1 (attach the NAT tracepoint too) or 0") === 1;
const PAIRED = envNumber("PAIRED", 0, (n) => n === 0 || n === 1, "1 (observed against unobserved round trips) or 0") === 1;
const CGROUP_PROGRAMS = ["fl_cgroup_ingress", "fl_cgroup_egress"];
const NAT_PROGRAM = "fl_nat_xmit";
const PORT = 5201;

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

function openObject(native: NativeModule, objectPath: string): NativeBpfObject {
  return new native.BpfObject(objectPath, { maxEntries: { fl_events: 1 << 26, fl_flows: 1 << 16 }, optionalPrograms: OPTIONAL_PROGRAMS });
}

function isolated(native: NativeModule, objectPath: string): void {
  const obj = openObject(native, objectPath);
  try {
    const run = (label: string, prog: string, packet: Buffer, repeat: number) => {
      obj.testRun(prog, packet, 1); // creates the flow
      const { nsPerRun, retval } = obj.testRun(prog, packet, repeat);
      console.log(`  ${label.padEnd(52)} ${String(nsPerRun).padStart(5)} ns/run  (retval ${retval}, ${repeat} runs)`);
    };
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

/** The per-packet programs, the NAT tracepoint if asked, and the socket programs with their scope if the object has them. */
function attachAsTheAgent(obj: NativeBpfObject, cgroupRoot: string): void {
  const programs = new Set(obj.programStats().map((p) => p.name));
  // Established sockets count on TCP's counters only where the socket programs run.
  if (programs.has("fl_sock_state")) {
    setObservedRoot(obj, resolveCgroupRoot(cgroupRoot));
    for (const prog of TRACING_PROGRAMS) obj.attachTracing(prog);
  }
  // An empty-hook object may have one direction only.
  for (const prog of CGROUP_PROGRAMS) if (programs.has(prog)) obj.attachCgroup(prog, cgroupRoot);
  if (NAT && programs.has(NAT_PROGRAM)) obj.attachTracing(NAT_PROGRAM);
}

/** Object indices in blocks ordered A B B A, reversed every other round, so drift cancels. */
function abbaOrder(): number[] {
  const blocks: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = OBJECTS.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    blocks.push(...order, ...[...order].reverse());
  }
  return blocks;
}

interface LiveTotals {
  runs: Map<string, number>;
  ns: Map<string, number>;
  roundTrips: number;
  latency: PooledHistogram;
}

async function live(native: NativeModule): Promise<void> {
  const rr = buildTool("rr");
  const totals: LiveTotals[] = OBJECTS.map(() => ({ runs: new Map(), ns: new Map(), roundTrips: 0, latency: new PooledHistogram() }));
  const pods = new TestPods(["client", "server"], { subnet: "198.18.2", firstHost: 10 });
  let obj: NativeBpfObject | undefined;
  try {
    const serverIp = pods.pod("server").ip;
    await pods.spawn("server", ["taskset", "-c", CPU, rr, "server", serverIp, String(PORT)], "ready");
    const client = pods.pod("client");
    const latencyCmd = [
      "sh",
      "-c",
      `echo $$ > ${client.cgroupDir}/cgroup.procs && exec ip netns exec ${client.netns} "$@"`,
      "sh",
      ...["taskset", "-c", CPU, rr, "latency", serverIp, String(PORT), "64", String(BLOCK_SECONDS)],
    ];
    await runAsync(latencyCmd); // warm-up, nothing attached
    const alternate = async () => {
      for (const i of abbaOrder()) {
        if (OBJECTS[i] !== NO_OBJECT) {
          obj = openObject(native, OBJECTS[i]);
          attachAsTheAgent(obj, pods.cgroupRoot);
        }
        const before = obj?.programStats() ?? [];
        const latency = parseHistogram(await runAsync(latencyCmd), `rr latency (${OBJECTS[i]})`);
        const after = obj?.programStats() ?? [];
        obj?.close();
        obj = undefined;
        const t = totals[i];
        for (const a of after) {
          const b = before.find((p) => p.id === a.id);
          t.runs.set(a.name, (t.runs.get(a.name) ?? 0) + a.runCount - (b?.runCount ?? 0));
          t.ns.set(a.name, (t.ns.get(a.name) ?? 0) + a.runTimeNs - (b?.runTimeNs ?? 0));
        }
        t.roundTrips += latency.count;
        t.latency.add(latency);
      }
    };
    if (STATS) await withBpfStats(alternate);
    else await alternate();
  } finally {
    obj?.close();
    await pods.destroy();
  }
  const programs = NAT ? [...CGROUP_PROGRAMS, NAT_PROGRAM] : CGROUP_PROGRAMS;
  const perRoundTrip = totals.map((t) => programs.reduce((s, p) => s + (t.ns.get(p) ?? 0), 0) / t.roundTrips);
  const firstPercentiles = totals[0].latency.percentilesNs([0.5, 0.9, 0.99]);
  OBJECTS.forEach((o, i) => {
    const t = totals[i];
    const ps = t.latency.percentilesNs([0.5, 0.9, 0.99]);
    const us = ps.map((p) => (p / 1000).toFixed(2)).join(" / ");
    const ratios = ps.map((p, k) => (p / firstPercentiles[k]).toFixed(3)).join(" / ");
    console.log(`  ${o}: ${t.roundTrips} round trips, p50 / p90 / p99 ${us} us (x${ratios} of the first object)`);
    if (!STATS || o === NO_OBJECT) return;
    for (const p of programs) {
      const runs = t.runs.get(p) ?? 0;
      console.log(`    ${p.padEnd(20)} ${(runs ? (t.ns.get(p) ?? 0) / runs : 0).toFixed(1).padStart(7)} ns/run  ${(runs / t.roundTrips).toFixed(2)} runs per round trip`);
    }
    console.log(`    ${"both".padEnd(20)} ${perRoundTrip[i].toFixed(0).padStart(7)} ns per round trip  (x${(perRoundTrip[i] / perRoundTrip[0]).toFixed(3)} of the first object)`);
  });
}

/** Each object's observed/unobserved percentile ratios, blocks ordered A B B A per round. */
async function paired(native: NativeModule): Promise<void> {
  const rr = buildTool("rr");
  const names = ["p50", "p90", "p99"];
  const blockRatios: number[][][] = OBJECTS.map(() => []);
  const pods = new PairedPods();
  let obj: NativeBpfObject | undefined;
  try {
    await pods.start(rr, CPU, -5);
    await pods.measure(64, BLOCK_SECONDS, "warm-up");
    for (const i of abbaOrder()) {
      if (OBJECTS[i] !== NO_OBJECT) {
        obj = openObject(native, OBJECTS[i]);
        attachAsTheAgent(obj, pods.observedGroup);
      }
      const [o, u] = await pods.measure(64, BLOCK_SECONDS, OBJECTS[i]);
      obj?.close();
      obj = undefined;
      const po = new PooledHistogram().add(o).percentilesNs([0.5, 0.9, 0.99]);
      const pu = new PooledHistogram().add(u).percentilesNs([0.5, 0.9, 0.99]);
      blockRatios[i].push(po.map((v, k) => v / pu[k]));
    }
  } finally {
    obj?.close();
    await pods.destroy();
  }
  OBJECTS.forEach((o, i) => {
    const { values, intervals } = pairedRatios(blockRatios[i], 1000);
    const cells = names.map((n, k) => `${n} ${values[k].toFixed(3)} [${intervals[k].low.toFixed(3)}, ${intervals[k].high.toFixed(3)}]`);
    console.log(`  ${o}: observed/unobserved over ${blockRatios[i].length} blocks  ${cells.join("  ")}`);
  });
}

async function main(): Promise<void> {
  const native = loadNative();
  console.log(`load average at start: ${loadAverage()}`);
  for (const o of OBJECTS.filter((o) => o !== NO_OBJECT && !EMPTY_HOOK_PATHS.has(o))) {
    console.log(`${o}: BPF_PROG_TEST_RUN averages (${native.possibleCpus()} possible CPUs)`);
    isolated(native, o);
  }
  if (PAIRED) {
    console.log(`\npaired, bpf_stats off${NAT ? ", NAT tracepoint attached" : ""}: ${ROUNDS} rounds of ${BLOCK_SECONDS} s blocks per object (A B B A), client and servers on CPU ${CPU}`);
    await paired(native);
    console.log(`load average at end: ${loadAverage()}`);
    return;
  }
  console.log(`\nlive, bpf_stats ${STATS ? "on" : "off"}${NAT ? ", NAT tracepoint attached" : ""}: ${ROUNDS} rounds of ${BLOCK_SECONDS} s blocks per object (A B B A), client and server on CPU ${CPU}`);
  await live(native);
  console.log(`load average at end: ${loadAverage()}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
