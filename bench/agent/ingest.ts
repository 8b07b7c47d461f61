/**
 * Ingestion: flow events per second the capture takes from the kernel with zero loss on its one JavaScript
 * thread (records drained by the addon and decoded into KernelRecord objects), with CPU and RSS.
 * A C sender in a test pod (198.18.2.0/24) opens a new UDP flow per datagram; each yields one flow_start
 * record (the receiving pod is outside the observed subtree).
 *  1. backlog: the sender fills the ring while this process is blocked, then the capture drains it; the
 *     drain rate is what one core of the agent sustains.
 *  2. live: fixed sending rates, stepped up until records are lost (the sender's own rate is reported,
 *     since it shares the machine's cores with the agent).
 *   node --import tsx bench/agent/ingest.ts   (env: BACKLOG=300000 RATES=50000,100000,200000 SECONDS=4)
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { KernelCapture } from "../../agent/kernel/capture";
import { TestPods, type Pod } from "../../test/agent/kernel/pods";
import { buildTool, printProgramStats, runAsync, withBpfStats } from "./common";

const BACKLOG = Number(process.env.BACKLOG ?? 300_000);
const RATES = (process.env.RATES ?? "50000,100000,200000").split(",").map(Number);
const SECONDS = Number(process.env.SECONDS ?? 4);

function rss(): { total: number; anon: number } {
  const status = fs.readFileSync("/proc/self/status", "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]) / 1024;
  return { total: kb("VmRSS"), anon: kb("RssAnon") };
}

function inPod(pod: Pod, cmd: string[]): string[] {
  return ["sh", "-c", `echo $$ > ${pod.cgroupDir}/cgroup.procs && exec ip netns exec ${pod.netns} "$@"`, "sh", ...cmd];
}

class Meter {
  private readonly cpu = process.cpuUsage();
  private readonly t = process.hrtime.bigint();
  private maxRss = rss();
  private readonly timer = setInterval(() => this.sample(), 50);
  sample(): void {
    const r = rss();
    this.maxRss = { total: Math.max(this.maxRss.total, r.total), anon: Math.max(this.maxRss.anon, r.anon) };
  }
  /** CPU seconds (user + system) this process used since the meter started. */
  cpuSeconds(): number {
    const cpu = process.cpuUsage(this.cpu);
    return (cpu.user + cpu.system) / 1e6;
  }
  stop(): string {
    clearInterval(this.timer);
    this.sample();
    const wall = Number(process.hrtime.bigint() - this.t) / 1e9;
    const cpu = process.cpuUsage(this.cpu);
    return `agent CPU ${(((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(0)}% of one core, max RSS ${this.maxRss.total.toFixed(1)} MiB (anonymous ${this.maxRss.anon.toFixed(1)} MiB)`;
  }
}

async function main(): Promise<void> {
  const flood = buildTool("udpflood");
  const pods = new TestPods(["sender", "sink"], { subnet: "198.18.2", firstHost: 20 });
  const sender = pods.pod("sender");
  const sinkIp = pods.pod("sink").ip;
  let capture: KernelCapture | undefined;
  try {
    await withBpfStats(async () => {
      // 1. Backlog drain: the ring holds the whole backlog (160 bytes per record with its header).
      const ringBytes = 2 ** Math.ceil(Math.log2(BACKLOG * 160 * 1.1));
      capture = KernelCapture.open({ cgroupRoot: sender.cgroupDir, ringBufferBytes: ringBytes, flushIntervalMs: 60_000 });
      let received = 0;
      capture.onRecords((records) => {
        for (const r of records) if (r.kind === "flow_start") received++;
      });
      const idle = rss();
      console.log(`RSS with the capture open and idle: ${idle.total.toFixed(1)} MiB (anonymous ${idle.anon.toFixed(1)} MiB; ring buffer ${ringBytes >> 20} MiB mapped twice)`);
      // Blocks this event loop: nothing is drained until the sender is done.
      const fill = inPod(sender, [flood, sinkIp, "10000000", "60", String(BACKLOG)]);
      const [sent] = execFileSync(fill[0], fill.slice(1), { encoding: "utf8" }).trim().split(" ").map(Number);
      const meter = new Meter();
      const t0 = process.hrtime.bigint();
      const lostBefore = capture.lossStats().ringbufLost;
      while (received < sent - lostBefore && Number(process.hrtime.bigint() - t0) < 60e9) await new Promise((r) => setImmediate(r));
      const drainS = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpuS = meter.cpuSeconds();
      console.log(
        `backlog: ${sent} flows queued, ${received} records drained and decoded in ${drainS.toFixed(3)} s = ${(received / drainS).toFixed(0)} events/s ` +
          `(${(received / cpuS).toFixed(0)} per CPU-second), lost ${capture.lossStats().ringbufLost}; ${meter.stop()}`,
      );
      capture.close();

      // 2. Live: the default 16 MiB ring.
      capture = KernelCapture.open({ cgroupRoot: sender.cgroupDir, flushIntervalMs: 60_000 });
      received = 0;
      capture.onRecords((records) => {
        for (const r of records) if (r.kind === "flow_start") received++;
      });
      for (const rate of RATES) {
        const before = { lost: capture.lossStats().ringbufLost, received };
        const live = new Meter();
        const [n, secs] = (await runAsync(inPod(sender, [flood, sinkIp, String(rate), String(SECONDS)]))).trim().split(" ").map(Number);
        for (let i = 0; i < 100 && received - before.received < n - (capture.lossStats().ringbufLost - before.lost); i++) {
          await new Promise((r) => setTimeout(r, 20));
        }
        const got = received - before.received;
        const lost = capture.lossStats().ringbufLost - before.lost;
        console.log(
          `live, target ${rate}/s: sender reached ${(n / secs).toFixed(0)}/s, received ${got} of ${n} (${(got / secs).toFixed(0)} events/s), lost ${lost}; ${live.stop()}`,
        );
        if (lost > 0) break;
      }
      printProgramStats("kernel cost per program run (bpf_stats, whole ingestion run):", capture.programStats());
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
