/**
 * Datapath overhead: TCP request/response latency (p50/p90/p99) and bulk throughput between two test pods
 * (netns on a bridge, 198.18.2.0/24), with the kernel capture attached vs detached, alternated within one
 * run (ABBA order). Then the kernel cost per program run from bpf_stats.
 *   tsx bench/agent/datapath.ts   (env: ROUNDS=6, PHASE_SECONDS=2, REQUEST_BYTES=64)
 */
import { KernelCapture } from "../../agent/kernel/capture";
import { TestPods } from "../../test/agent/kernel/pods";
import { buildTool, median, printProgramStats, runAsync, withBpfStats } from "./common";

const ROUNDS = Number(process.env.ROUNDS ?? 6);
const PHASE_SECONDS = Number(process.env.PHASE_SECONDS ?? 2);
const REQUEST_BYTES = Number(process.env.REQUEST_BYTES ?? 64);
const PORT = 5201;

interface Sample {
  p50: number;
  p90: number;
  p99: number;
  requests: number;
  bitsPerSecond: number;
}

async function main(): Promise<void> {
  const rr = buildTool("rr");
  const pods = new TestPods(["client", "server"], { subnet: "198.18.2", firstHost: 10 });
  let capture: KernelCapture | undefined;
  try {
    const serverIp = pods.pod("server").ip;
    await pods.spawn("server", [rr, "server", serverIp, String(PORT)], "ready");
    const inClient = (args: string[]) => ["sh", "-c", `echo $$ > ${pods.pod("client").cgroupDir}/cgroup.procs && exec ip netns exec ${pods.pod("client").netns} "$@"`, "sh", rr, ...args];

    const measure = async (): Promise<Sample> => {
      const [p50, p90, p99, requests] = (await runAsync(inClient(["latency", serverIp, String(PORT), String(REQUEST_BYTES), String(PHASE_SECONDS)])))
        .trim()
        .split(" ")
        .map(Number);
      const bitsPerSecond = Number((await runAsync(inClient(["stream", serverIp, String(PORT), String(PHASE_SECONDS)]))).trim());
      return { p50, p90, p99, requests, bitsPerSecond };
    };

    let records = 0;
    const attach = () => {
      capture = KernelCapture.open({ cgroupRoot: pods.cgroupRoot });
      capture.onRecords((r) => (records += r.length));
    };
    const detach = () => {
      capture?.close();
      capture = undefined;
    };

    const samples = { detached: [] as Sample[], attached: [] as Sample[] };
    await measure(); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      const order: Array<"detached" | "attached"> = round % 2 === 0 ? ["detached", "attached"] : ["attached", "detached"];
      for (const mode of order) {
        if (mode === "attached") attach();
        const s = await measure();
        detach();
        samples[mode].push(s);
        console.log(
          `round ${round + 1} ${mode.padEnd(8)} p50 ${s.p50.toFixed(1)} us  p90 ${s.p90.toFixed(1)} us  p99 ${s.p99.toFixed(1)} us  ` +
            `${s.requests} req  ${(s.bitsPerSecond / 1e9).toFixed(2)} Gbit/s`,
        );
      }
    }

    const summary = (mode: "detached" | "attached") => ({
      p50: median(samples[mode].map((s) => s.p50)),
      p90: median(samples[mode].map((s) => s.p90)),
      p99: median(samples[mode].map((s) => s.p99)),
      gbps: median(samples[mode].map((s) => s.bitsPerSecond)) / 1e9,
    });
    const off = summary("detached");
    const on = summary("attached");
    console.log(`\nmedian over ${ROUNDS} rounds (${REQUEST_BYTES}-byte requests, ${PHASE_SECONDS} s phases); ${records} records received while attached`);
    console.log(`  detached: p50 ${off.p50.toFixed(1)} us  p90 ${off.p90.toFixed(1)} us  p99 ${off.p99.toFixed(1)} us  ${off.gbps.toFixed(2)} Gbit/s`);
    console.log(`  attached: p50 ${on.p50.toFixed(1)} us  p90 ${on.p90.toFixed(1)} us  p99 ${on.p99.toFixed(1)} us  ${on.gbps.toFixed(2)} Gbit/s`);
    console.log(`  ratio attached/detached: p50 ${(on.p50 / off.p50).toFixed(3)}  p90 ${(on.p90 / off.p90).toFixed(3)}  p99 ${(on.p99 / off.p99).toFixed(3)} (target <= 1.03)  throughput ${(on.gbps / off.gbps).toFixed(3)} (target >= 0.97)`);

    await withBpfStats(async () => {
      attach();
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
