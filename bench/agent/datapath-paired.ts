/**
 * Datapath overhead measured round trip by round trip: one client process holds two TCP connections to two
 * server pods and alternates request/response round trips between them (rr pair). One connection's sockets
 * are in a cgroup the agent observes, the other's in one it does not, so the two are timed within
 * microseconds of each other: whatever the machine does (the round trip's two speed modes, steal, other
 * work) strikes both alike. What stays in their ratio is what the agent adds to an observed socket's
 * packets: the cgroup_skb programs and their hooks.
 *
 * What the same ratio cannot see is the agent's cost to every packet on the machine, observed or not: the
 * egress NAT tracepoint (it runs for every packet queued on any device), the cgroup hooks' global switch,
 * and the daemon's process. Those show in the unobserved connection between attached and detached blocks,
 * which is measured by block alternation as in datapath.ts, and reported beside it ("global").
 *
 * Blocks in quads D A A D (the daemon started before the first A block, stopped after the second); the two
 * detached blocks swap places every quad, so D2/D1 is an A/A control. Per block, each percentile of the
 * observed connection over the unobserved one's; per quad, its attached blocks' ratio over its detached
 * blocks' (which removes any difference between the two connections or servers); the estimate is the
 * geometric mean over quads, with 95% bootstrap intervals over quads.
 *   node --import tsx bench/agent/datapath-paired.ts
 *   env: QUADS=30 BLOCK_SECONDS=2 REQUEST_BYTES=64 CPU=1 AGENT_CPUS=0 NICE=-5 RESAMPLES=1000
 *        AGENT_ARGS="--no-egress-nat" (extra `flowlens agent` flags)
 */
import * as fs from "node:fs";
import { AgentProcess } from "./agent-process";
import { buildTool, envCpuList, envNumber, loadAverage } from "./common";
import { PooledHistogram, type SparseHistogram } from "./latency-histogram";
import { PairedPods } from "./paired-pods";
import { AGENT_SETTLE_MS, type Arm, formatRatios, P99, PERCENTILE_NAMES, PERCENTILES, QUAD_ORDERS, verdict } from "./ratio-report";
import type { Interval } from "./bootstrap";
import { geometricMeans, pairedRatios } from "./paired-ratio";

const QUADS = envNumber("QUADS", 30, (n) => Number.isInteger(n) && n >= 2, "a whole number of D A A D quads, at least 2");
const BLOCK_SECONDS = envNumber("BLOCK_SECONDS", 2, (n) => n >= 0.2, "seconds of alternating round trips per block, at least 0.2");
const REQUEST_BYTES = envNumber("REQUEST_BYTES", 64, (n) => Number.isInteger(n) && n >= 1 && n <= 65536, "a request size from 1 to 65536 bytes");
const NICE = envNumber("NICE", -5, (n) => Number.isInteger(n) && n >= -20 && n <= 19, "a nice value from -20 to 19 for client and servers");
const RESAMPLES = envNumber("RESAMPLES", 1000, (n) => Number.isInteger(n) && n >= 100, "at least 100 bootstrap resamples");
const CPU = envCpuList("CPU", "1");
const AGENT_CPUS = envCpuList("AGENT_CPUS", "0");
/** Extra `flowlens agent` flags for the attached blocks. */
const AGENT_ARGS = (process.env.AGENT_ARGS ?? "").split(/\s+/).filter(Boolean);

interface Block {
  arm: Arm;
  /** Percentiles (ns) of the observed and the unobserved connection's round trips. */
  observed: number[];
  unobserved: number[];
  histograms: [SparseHistogram, SparseHistogram];
}

const divide = (a: number[], b: number[]) => a.map((v, i) => v / b[i]);

/** Per quad: what its blocks of `numerator` show over its blocks of `denominator`, by `measure` (a per-block vector). */
function quadRatios(quads: Block[][], measure: (b: Block) => number[], numerator: (a: Arm) => boolean, denominator: (a: Arm) => boolean): number[][] {
  return quads.map((quad) => {
    const side = (pick: (a: Arm) => boolean) => geometricMeans(quad.filter((b) => pick(b.arm)).map(measure));
    return divide(side(numerator), side(denominator));
  });
}

const fmt = (values: number[], intervals: Interval[]) => formatRatios(PERCENTILE_NAMES, values, intervals);

async function main(): Promise<void> {
  const rr = buildTool("rr");
  if (fs.readFileSync("/proc/sys/kernel/bpf_stats_enabled", "utf8").trim() !== "0") {
    console.log("warning: kernel.bpf_stats_enabled=1 (another run is timing programs): observed round trips pay for its clock reads");
  }
  console.log(`load average at start: ${loadAverage()}`);
  console.log(
    `${QUADS} quads x 4 blocks of ${BLOCK_SECONDS} s, ${REQUEST_BYTES}-byte round trips alternating between an observed and an unobserved ` +
      `connection; client and servers on CPU ${CPU} (nice ${NICE}), agent on CPU ${AGENT_CPUS}` +
      (AGENT_ARGS.length > 0 ? ` with ${AGENT_ARGS.join(" ")}` : ""),
  );

  const pods = new PairedPods();
  let agent: AgentProcess | undefined;
  try {
    await pods.start(rr, CPU, NICE);
    const measure = async (arm: Arm, label: string): Promise<Block> => {
      const histograms = await pods.measure(REQUEST_BYTES, BLOCK_SECONDS, label);
      const [observed, unobserved] = histograms.map((h) => new PooledHistogram().add(h).percentilesNs(PERCENTILES));
      console.log(
        `${label.padEnd(22)} ${arm.padEnd(9)} observed p50 ${(observed[0] / 1000).toFixed(2).padStart(6)} p99 ${(observed[P99] / 1000).toFixed(2).padStart(6)} us  ` +
          `unobserved p50 ${(unobserved[0] / 1000).toFixed(2).padStart(6)} p99 ${(unobserved[P99] / 1000).toFixed(2).padStart(6)} us  ${histograms[0].count} pairs`,
      );
      return { arm, observed, unobserved, histograms };
    };
    const setAttached = async (attached: boolean) => {
      if (attached && !agent) {
        agent = await AgentProcess.start({ cgroupRoot: pods.observedGroup, cpus: AGENT_CPUS, extraArgs: AGENT_ARGS });
        await new Promise((r) => setTimeout(r, AGENT_SETTLE_MS));
      } else if (!attached && agent) {
        await agent.stop();
        agent = undefined;
      }
    };

    await measure("detached1", "warm-up (discarded)");
    const started = Date.now();
    const quads: Block[][] = [];
    for (let q = 0; q < QUADS; q++) {
      const quad: Block[] = [];
      for (const [i, arm] of QUAD_ORDERS[q % 2].entries()) {
        await setAttached(arm === "attached");
        quad.push(await measure(arm, `quad ${q + 1} block ${i + 1}`));
      }
      quads.push(quad);
    }
    await setAttached(false);
    console.log(`load average at end of the alternation (${((Date.now() - started) / 1000).toFixed(0)} s): ${loadAverage()}`);

    console.log(`\npooled over ${QUADS} quads (percentiles in us, nearest rank over every round trip)`);
    const all = quads.flat();
    for (const [name, pick] of [["attached", (a: Arm) => a === "attached"], ["detached", (a: Arm) => a !== "attached"]] as const) {
      for (const [side, k] of [["observed", 0], ["unobserved", 1]] as const) {
        const pool = new PooledHistogram();
        for (const b of all.filter((x) => pick(x.arm))) pool.add(b.histograms[k]);
        const p = pool.percentilesNs(PERCENTILES);
        console.log(`  ${name.padEnd(9)} ${side.padEnd(11)} ${String(pool.count).padStart(9)} round trips  ${p.map((v, i) => `${PERCENTILE_NAMES[i]} ${(v / 1000).toFixed(2)}`).join("  ")}`);
      }
    }

    const isAttached = (a: Arm) => a === "attached";
    const isDetached = (a: Arm) => a !== "attached";
    const pairRatio = (b: Block) => divide(b.observed, b.unobserved);
    const paired = pairedRatios(quadRatios(quads, pairRatio, isAttached, isDetached), RESAMPLES);
    const control = pairedRatios(quadRatios(quads, pairRatio, (a) => a === "detached2", (a) => a === "detached1"), RESAMPLES);
    const global = pairedRatios(quadRatios(quads, (b) => b.unobserved, isAttached, isDetached), RESAMPLES);
    const globalControl = pairedRatios(quadRatios(quads, (b) => b.unobserved, (a) => a === "detached2", (a) => a === "detached1"), RESAMPLES);
    console.log(`\nratios, geometric mean over ${QUADS} quads, 95% bootstrap intervals over quads (${RESAMPLES} resamples)`);
    console.log(`  per observed socket, paired round trip by round trip (attached/detached of observed/unobserved):`);
    console.log(`    agent:              ${fmt(paired.values, paired.intervals)}`);
    console.log(`    A/A control D2/D1:  ${fmt(control.values, control.intervals)}`);
    console.log(`    ${verdict("p99 ratio", paired.values[P99], paired.intervals[P99], 1.03, true)}`);
    console.log(`  global, on the unobserved connection by block alternation (attached/detached):`);
    console.log(`    agent:              ${fmt(global.values, global.intervals)}`);
    console.log(`    A/A control D2/D1:  ${fmt(globalControl.values, globalControl.intervals)}`);
  } finally {
    await agent?.kill();
    await pods.destroy();
  }
  console.log(`load average at end: ${loadAverage()}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
