/**
 * Datapath overhead: TCP request/response latency and bulk throughput between two test pods (netns on a
 * bridge, 198.18.2.0/24) with the real agent attached (`flowlens agent` on the pods' cgroup subtree: the
 * same object and programs as on a node, its userspace consuming the ring buffer) versus detached.
 *
 * Method, so that a difference of a few percent stands out from a shared machine's noise:
 * - many short blocks in quads ordered D A A D (ABBA), so a linear drift cancels within each quad;
 * - the two detached blocks of a quad are labelled D1 and D2, swapping places every quad, so D2/D1 is an A/A
 *   control measured in the same alternation: the noise floor any attached/detached ratio must clear;
 * - client and server pinned to fixed CPUs, the agent's userspace pinned to other ones; a warm-up block first,
 *   discarded;
 * - every round trip goes into an HDR-like histogram (bench/agent/tools/rr.c); the ratios are paired within
 *   quads (primary): each quad's attached blocks pooled over its detached blocks, geometric mean over quads, so
 *   a mode switch of the round trip moves both sides of the quads it strikes (bench/agent/paired-ratio.ts);
 *   beside them the ratios of the histograms pooled over all blocks of a configuration (secondary). The 95%
 *   intervals come from a bootstrap over quads (so they include the block-to-block drift).
 * Then the kernel cost per program run and per round trip from bpf_stats (not on during the alternation).
 *   node --import tsx bench/agent/datapath.ts
 *   env: QUADS=30 LATENCY_SECONDS=1 STREAM_SECONDS=0.5 REQUEST_BYTES=64 CLIENT_CPU=1 SERVER_CPU=1 AGENT_CPUS=0
 *        NICE=-5 RESAMPLES=1000 AGENT_ARGS="--no-egress-nat"
 */
import * as fs from "node:fs";
import { TestPods } from "../../test/agent/kernel/pods";
import { AgentProcess, type AgentRunSummary } from "./agent-process";
import { bootstrapIntervals, type Interval } from "./bootstrap";
import { pairedRatios } from "./paired-ratio";
import { AGENT_SETTLE_MS, type Arm, formatRatios, P99, PERCENTILE_NAMES, PERCENTILES, QUAD_ORDERS, verdict } from "./ratio-report";
import type { ProgramStats } from "../../agent/kernel/capture";
import { buildTool, envCpuList, envNumber, loadAverage, runAsync, withBpfStats } from "./common";
import { parseHistogram, PooledHistogram, type SparseHistogram } from "./latency-histogram";

const QUADS = envNumber("QUADS", 30, (n) => Number.isInteger(n) && n >= 2, "a whole number of D A A D quads, at least 2");
const LATENCY_SECONDS = envNumber("LATENCY_SECONDS", 1, (n) => n >= 0.1, "seconds of request/response per block, at least 0.1");
const STREAM_SECONDS = envNumber("STREAM_SECONDS", 0.5, (n) => n >= 0.1, "seconds of bulk transfer per block, at least 0.1");
const REQUEST_BYTES = envNumber("REQUEST_BYTES", 64, (n) => Number.isInteger(n) && n >= 1 && n <= 65536, "a request size from 1 to 65536 bytes");
const NICE = envNumber("NICE", -5, (n) => Number.isInteger(n) && n >= -20 && n <= 19, "a nice value from -20 to 19 for client and server");
const RESAMPLES = envNumber("RESAMPLES", 1000, (n) => Number.isInteger(n) && n >= 100, "at least 100 bootstrap resamples");
const CLIENT_CPU = envCpuList("CLIENT_CPU", "1");
const SERVER_CPU = envCpuList("SERVER_CPU", "1");
const AGENT_CPUS = envCpuList("AGENT_CPUS", "0");
/** Extra `flowlens agent` flags for the attached blocks, e.g. "--no-egress-nat" to leave NAT reporting out. */
const AGENT_ARGS = (process.env.AGENT_ARGS ?? "").split(/\s+/).filter(Boolean);
const PORT = 5201;

interface Block {
  arm: Arm;
  latency: SparseHistogram;
  bitsPerSecond: number;
}
type Quad = Block[];

/** Percentiles (ns) and mean throughput of some blocks, pooled; `scratch` is reset and reused. */
function summarize(blocks: readonly Block[], scratch: PooledHistogram): { percentilesNs: number[]; bitsPerSecond: number; roundTrips: number } {
  scratch.reset();
  let bits = 0;
  for (const b of blocks) {
    scratch.add(b.latency);
    bits += b.bitsPerSecond;
  }
  return { percentilesNs: scratch.percentilesNs(PERCENTILES), bitsPerSecond: bits / blocks.length, roundTrips: scratch.count };
}

/** Ratios numerator/denominator of each percentile, then of throughput. */
function ratios(quads: readonly Quad[], numerator: (a: Arm) => boolean, denominator: (a: Arm) => boolean, scratch: [PooledHistogram, PooledHistogram]): number[] {
  const blocks = quads.flat();
  const n = summarize(blocks.filter((b) => numerator(b.arm)), scratch[0]);
  const d = summarize(blocks.filter((b) => denominator(b.arm)), scratch[1]);
  return [...n.percentilesNs.map((v, i) => v / d.percentilesNs[i]), n.bitsPerSecond / d.bitsPerSecond];
}

const isAttached = (a: Arm) => a === "attached";
const isDetached = (a: Arm) => a !== "attached";

function fmtRatios(values: number[], intervals: Interval[]): string {
  return formatRatios([...PERCENTILE_NAMES, "throughput"], values, intervals);
}

/**
 * What the programs cost per unit of work (a round trip, a MiB) over one phase, from their run counts and
 * times; returns the total ns per unit. cgroup_skb programs see only the pods' packets; tracepoint programs
 * run for every matching event on the machine, so their share also carries other work's packets.
 */
function printKernelCost(title: string, before: ProgramStats[], after: ProgramStats[], units: number, unit: string): number {
  console.log(`\n${title}`);
  let total = 0;
  for (const a of after) {
    const b = before.find((p) => p.id === a.id);
    const runs = a.runCount - (b?.runCount ?? 0);
    const ns = a.runTimeNs - (b?.runTimeNs ?? 0);
    if (runs === 0) continue;
    total += ns / units;
    console.log(
      `  ${a.name.padEnd(20)} ${(ns / runs).toFixed(0).padStart(6)} ns/run  ${(runs / units).toFixed(2).padStart(6)} runs and ` +
        `${(ns / units).toFixed(0).padStart(5)} ns per ${unit}`,
    );
  }
  return total;
}

async function main(): Promise<void> {
  const rr = buildTool("rr");
  const statsWereOn = fs.readFileSync("/proc/sys/kernel/bpf_stats_enabled", "utf8").trim() !== "0";
  console.log(`load average at start: ${loadAverage()}`);
  console.log(
    `${QUADS} quads x 4 blocks of ${LATENCY_SECONDS} s request/response (${REQUEST_BYTES}-byte requests) + ${STREAM_SECONDS} s bulk; ` +
      `client on CPU ${CLIENT_CPU}, server on CPU ${SERVER_CPU} (nice ${NICE}), agent on CPU ${AGENT_CPUS}` +
      (AGENT_ARGS.length > 0 ? ` with ${AGENT_ARGS.join(" ")}` : ""),
  );
  if (statsWereOn) console.log("warning: kernel.bpf_stats_enabled=1 (another run is timing programs): attached blocks pay for its clock reads");

  const pods = new TestPods(["client", "server"], { subnet: "198.18.2", firstHost: 10 });
  let agent: AgentProcess | undefined;
  try {
    const client = pods.pod("client");
    const serverIp = pods.pod("server").ip;
    const pinned = (cpu: string, args: string[]) => ["taskset", "-c", cpu, "nice", "-n", String(NICE), rr, ...args];
    await pods.spawn("server", pinned(SERVER_CPU, ["server", serverIp, String(PORT)]), "ready");
    const inClient = (args: string[]) => [
      "sh",
      "-c",
      `echo $$ > ${client.cgroupDir}/cgroup.procs && exec ip netns exec ${client.netns} "$@"`,
      "sh",
      ...pinned(CLIENT_CPU, args),
    ];
    const latencyArgs = ["latency", serverIp, String(PORT), String(REQUEST_BYTES), String(LATENCY_SECONDS)];
    const streamArgs = ["stream", serverIp, String(PORT), String(STREAM_SECONDS)];
    const measure = async (arm: Arm, label: string): Promise<Block> => {
      const latency = parseHistogram(await runAsync(inClient(latencyArgs)), `rr latency (${label})`);
      const bitsPerSecond = Number((await runAsync(inClient(streamArgs))).trim());
      const [p50, , p99] = new PooledHistogram().add(latency).percentilesNs(PERCENTILES);
      console.log(
        `${label.padEnd(22)} ${arm.padEnd(9)} p50 ${(p50 / 1000).toFixed(1).padStart(6)} us  p99 ${(p99 / 1000).toFixed(1).padStart(7)} us  ` +
          `${String(latency.count).padStart(7)} round trips  ${(bitsPerSecond / 1e9).toFixed(2)} Gbit/s`,
      );
      return { arm, latency, bitsPerSecond };
    };

    const agentRuns: AgentRunSummary[] = [];
    const setAttached = async (attached: boolean) => {
      if (attached && !agent) {
        agent = await AgentProcess.start({ cgroupRoot: pods.cgroupRoot, cpus: AGENT_CPUS, extraArgs: AGENT_ARGS });
        await new Promise((r) => setTimeout(r, AGENT_SETTLE_MS));
      } else if (!attached && agent) {
        agentRuns.push(await agent.stop());
        agent = undefined;
      }
    };

    await measure("detached1", "warm-up (discarded)");
    const alternationStart = Date.now();
    const quads: Quad[] = [];
    for (let q = 0; q < QUADS; q++) {
      const quad: Quad = [];
      for (const [i, arm] of QUAD_ORDERS[q % 2].entries()) {
        await setAttached(arm === "attached");
        quad.push(await measure(arm, `quad ${q + 1} block ${i + 1}`));
      }
      quads.push(quad);
    }
    await setAttached(false);

    const scratch: [PooledHistogram, PooledHistogram] = [new PooledHistogram(), new PooledHistogram()];
    const all = quads.flat();
    console.log(`\npooled over ${QUADS} quads (${REQUEST_BYTES}-byte requests; percentiles in us, nearest rank over every round trip)`);
    console.log(`  ${"".padEnd(18)} ${"round trips".padStart(11)} ${PERCENTILE_NAMES.map((n) => n.padStart(8)).join(" ")}   Gbit/s`);
    const rows: Array<[string, (a: Arm) => boolean]> = [
      ["detached (D1+D2)", isDetached],
      ["attached", isAttached],
      ["detached D1", (a) => a === "detached1"],
      ["detached D2", (a) => a === "detached2"],
    ];
    for (const [name, pick] of rows) {
      const s = summarize(all.filter((b) => pick(b.arm)), scratch[0]);
      console.log(
        `  ${name.padEnd(18)} ${String(s.roundTrips).padStart(11)} ${s.percentilesNs.map((v) => (v / 1000).toFixed(2).padStart(8)).join(" ")}   ${(s.bitsPerSecond / 1e9).toFixed(2)}`,
      );
    }

    // Primary: paired within quads. Secondary: pooled over all blocks (a mode switch weighs on one side).
    const paired = (numerator: (a: Arm) => boolean, denominator: (a: Arm) => boolean) =>
      pairedRatios(quads.map((quad) => ratios([quad], numerator, denominator, scratch)), RESAMPLES);
    const attached = paired(isAttached, isDetached);
    const control = paired((a) => a === "detached2", (a) => a === "detached1");
    console.log(`\nratios paired within quads (primary): geometric mean over ${QUADS} quads, 95% bootstrap intervals over quads (${RESAMPLES} resamples)`);
    console.log(`  attached/detached:    ${fmtRatios(attached.values, attached.intervals)}`);
    console.log(`  A/A control D2/D1:    ${fmtRatios(control.values, control.intervals)}   (one block per side per quad)`);
    console.log(`  ${verdict("p99 ratio", attached.values[P99], attached.intervals[P99], 1.03, true)}`);
    const tput = PERCENTILES.length;
    console.log(`  ${verdict("throughput ratio", attached.values[tput], attached.intervals[tput], 0.97, false)}`);

    const attachedStat = (sample: readonly Quad[]) => ratios(sample, isAttached, isDetached, scratch);
    const controlStat = (sample: readonly Quad[]) => ratios(sample, (a) => a === "detached2", (a) => a === "detached1", scratch);
    const attachedIntervals = bootstrapIntervals(quads, attachedStat, { resamples: RESAMPLES });
    const controlIntervals = bootstrapIntervals(quads, controlStat, { resamples: RESAMPLES });
    console.log(`\nratios of the pools (secondary): every round trip of a configuration pooled, 95% bootstrap intervals over quads`);
    console.log(`  attached/detached:    ${fmtRatios(attachedStat(quads), attachedIntervals)}`);
    console.log(`  A/A control D2/D1:    ${fmtRatios(controlStat(quads), controlIntervals)}   (half the samples per side)`);

    const events = agentRuns.reduce((n, r) => n + r.kernelEvents, 0);
    const lost = agentRuns.reduce((n, r) => n + r.ringbufLost, 0);
    const cpu = agentRuns.reduce((n, r) => n + r.cpuSeconds, 0);
    console.log(`  agent: ${agentRuns.length} starts, ${events} kernel records consumed, ${lost} lost, ${cpu.toFixed(1)} CPU-seconds including start-up`);
    console.log(`load average at end of the alternation (${((Date.now() - alternationStart) / 1000).toFixed(0)} s): ${loadAverage()}`);

    // bpf_stats adds two clock reads per program run, so these figures are slightly above the cost without it.
    await withBpfStats(async () => {
      await setAttached(true);
      const atStart = agent!.programStats();
      const latency = parseHistogram(await runAsync(inClient(latencyArgs)), "rr latency (bpf_stats)");
      const afterLatency = agent!.programStats();
      const bitsPerSecond = Number((await runAsync(inClient(streamArgs))).trim());
      const afterStream = agent!.programStats();
      await setAttached(false);
      const [p50] = new PooledHistogram().add(latency).percentilesNs([0.5]);
      const perRoundTrip = printKernelCost(
        `kernel cost (bpf_stats on) over one ${LATENCY_SECONDS} s request/response phase, ${latency.count} round trips, p50 ${(p50 / 1000).toFixed(2)} us:`,
        atStart,
        afterLatency,
        latency.count,
        "round trip",
      );
      console.log(`  all programs: ${perRoundTrip.toFixed(0)} ns per round trip = ${((100 * perRoundTrip) / p50).toFixed(1)}% of the p50 round trip`);
      const mib = (bitsPerSecond * STREAM_SECONDS) / 8 / 2 ** 20;
      const perMib = printKernelCost(
        `kernel cost (bpf_stats on) over one ${STREAM_SECONDS} s bulk phase, ${mib.toFixed(0)} MiB at ${(bitsPerSecond / 1e9).toFixed(2)} Gbit/s:`,
        afterLatency,
        afterStream,
        mib,
        "MiB",
      );
      console.log(`  all programs: ${perMib.toFixed(0)} ns per MiB = ${((100 * perMib * mib) / (STREAM_SECONDS * 1e9)).toFixed(1)}% of one CPU over the phase`);
    });
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
