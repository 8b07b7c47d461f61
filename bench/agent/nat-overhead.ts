/**
 * What the egress NAT tracepoint costs the datapath (the fallback hook where the kernel has no netfilter
 * programs, and the chart's): it runs on every packet a device queues (net_dev_queue),
 * NAT'd or not. TCP request/response latency and bulk throughput between two test pods (198.18.2.0/24,
 * no NAT: the common path, where the program only checks the packet's conntrack state) with the kernel
 * capture attached with and without that program, alternated within one run (ABBA order); then its cost
 * per run from bpf_stats.
 *   tsx bench/agent/nat-overhead.ts   (env: ROUNDS=6, PHASE_SECONDS=2, REQUEST_BYTES=64)
 * The agent's other NAT sources are compared by datapath-toggle.ts (NAT=conntrack|netfilter|tracepoint|none),
 * which switches the programs every 400 ms and resolves their cost to packets the agent does not observe.
 */
import { KernelCapture } from "../../agent/kernel/capture";
import { TestPods } from "../../test/agent/kernel/pods";
import { buildTool, median, printProgramStats, runAsync, withBpfStats } from "./common";
import { parseHistogram, PooledHistogram } from "./latency-histogram";

const ROUNDS = Number(process.env.ROUNDS ?? 6);
const PHASE_SECONDS = Number(process.env.PHASE_SECONDS ?? 2);
const REQUEST_BYTES = Number(process.env.REQUEST_BYTES ?? 64);
const PORT = 5202;

type Mode = "without" | "with";

interface Sample {
  p50: number;
  p99: number;
  bitsPerSecond: number;
}

async function main(): Promise<void> {
  const rr = buildTool("rr");
  const pods = new TestPods(["client", "server"], { subnet: "198.18.2", firstHost: 20 });
  let capture: KernelCapture | undefined;
  try {
    const serverIp = pods.pod("server").ip;
    await pods.spawn("server", [rr, "server", serverIp, String(PORT)], "ready");
    const client = pods.pod("client");
    const inClient = (args: string[]) => ["sh", "-c", `echo $$ > ${client.cgroupDir}/cgroup.procs && exec ip netns exec ${client.netns} "$@"`, "sh", rr, ...args];
    const measure = async (): Promise<Sample> => {
      const latency = parseHistogram(await runAsync(inClient(["latency", serverIp, String(PORT), String(REQUEST_BYTES), String(PHASE_SECONDS)])), "rr latency");
      const [p50, p99] = new PooledHistogram().add(latency).percentilesNs([0.5, 0.99]).map((ns) => ns / 1000);
      const bitsPerSecond = Number((await runAsync(inClient(["stream", serverIp, String(PORT), String(PHASE_SECONDS)]))).trim());
      return { p50, p99, bitsPerSecond };
    };
    const attach = (mode: Mode) => {
      capture = KernelCapture.open({ cgroupRoot: pods.cgroupRoot, egressNat: mode === "with" });
    };
    const detach = () => {
      capture?.close();
      capture = undefined;
    };

    const samples: Record<Mode, Sample[]> = { without: [], with: [] };
    attach("with");
    await measure(); // warm-up
    detach();
    for (let round = 0; round < ROUNDS; round++) {
      const order: Mode[] = round % 2 === 0 ? ["without", "with"] : ["with", "without"];
      for (const mode of order) {
        attach(mode);
        const s = await measure();
        detach();
        samples[mode].push(s);
        console.log(`round ${round + 1} ${mode.padEnd(7)} NAT program: p50 ${s.p50.toFixed(1)} us  p99 ${s.p99.toFixed(1)} us  ${(s.bitsPerSecond / 1e9).toFixed(2)} Gbit/s`);
      }
    }
    const summary = (mode: Mode) => ({
      p50: median(samples[mode].map((s) => s.p50)),
      p99: median(samples[mode].map((s) => s.p99)),
      gbps: median(samples[mode].map((s) => s.bitsPerSecond)) / 1e9,
    });
    const off = summary("without");
    const on = summary("with");
    console.log(`\nmedian over ${ROUNDS} rounds (${REQUEST_BYTES}-byte requests, ${PHASE_SECONDS} s phases), capture attached in both`);
    console.log(`  without NAT program: p50 ${off.p50.toFixed(1)} us  p99 ${off.p99.toFixed(1)} us  ${off.gbps.toFixed(2)} Gbit/s`);
    console.log(`  with NAT program:    p50 ${on.p50.toFixed(1)} us  p99 ${on.p99.toFixed(1)} us  ${on.gbps.toFixed(2)} Gbit/s`);
    console.log(`  ratio with/without: p50 ${(on.p50 / off.p50).toFixed(3)}  p99 ${(on.p99 / off.p99).toFixed(3)}  throughput ${(on.gbps / off.gbps).toFixed(3)}`);

    await withBpfStats(async () => {
      attach("with");
      await measure();
      printProgramStats("kernel cost per program run (bpf_stats, one latency + one stream phase):", capture!.programStats());
      detach();
    });
  } finally {
    capture?.close();
    await pods.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
