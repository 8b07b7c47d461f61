// The Markdown report with SVG plots: both copies' latency, the paired
// difference, CPU and memory per configuration and rate, the agent's p99
// ratio (geometric mean of the blocks' own p99 ratios) against the 3% target
// with a bootstrap interval and the A/A control's noise floor, and the sidecar's cost set beside Istio's published figures.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { copyCgroup, SHARED } from "../../lab/plan";
import type { BenchRun, BlockRun, Config } from "./run";
import { blockRatioInterval, crossBlockRatioInterval, differenceInterval, MIN_PAIRS_PER_BLOCK, pairDifferences, ratioInterval, summarize, verdict, type BlockRatioInterval, type CyclePair, type Interval, type LatencySummary, type PairedBlock, type Verdict } from "./stats";
import { barChartSvg } from "./svg";

/** Istio's published sidecar figures (docs/observability.md sources). */
export const ISTIO = {
  sidecarVcpuPer1000Rps: 0.2,
  sidecarMemoryMb: 60,
  addedP90Ms: 0.228,
  addedP99Ms: 0.298,
  injectedRequests: "cpu 100m / memory 128Mi per pod",
};

export const AGENT_P99_TARGET = 1.03;

/** The copies' roles in a block: the one under the configuration (or in its role, for none) and the other. */
export type Role = "observed" | "unobserved";

export interface Aggregate {
  config: Config;
  rate: number;
  /** Valid blocks, and blocks left out because the load generator fell behind its schedule. */
  blocks: number;
  excluded: number;
  latency: Record<Role, LatencySummary>;
  /** Observed minus unobserved latency of the same pair. */
  difference: LatencySummary;
  achievedRps: Record<Role, number>;
  errors: Record<Role, number>;
  /** Lowest, median and highest p99 of single blocks, to show how much one block swings. */
  blockP99Ms: Record<Role, [number, number, number]>;
  /** How late the load generator sent its requests (already inside `latency`), both copies. */
  sendLag: LatencySummary;
  /** The load generator's event-loop delay: mean of the blocks' p99s, and the highest of their maxima. */
  loopDelayMs: { p99: number; max: number };
  /** Mean cores over blocks. */
  podsCores: Record<Role, number>;
  loadGeneratorCores: number;
  nodeCores: Record<string, number>;
  agentCores: number;
  relayCores: number;
  sidecarCores: number;
  softirqCores: number;
  /** Cores the hypervisor gave to other machines while this one had work (host-wide). */
  stealCores: number;
  busyCores: number;
  /** MB of PSS, pods incl. sidecars (the shared load generator's sidecar counts with the observed copy). */
  podsMemoryMb: Record<Role, number>;
  sidecarMemoryMb: number;
  sidecars: number;
  agentMemoryMb: number;
  relayMemoryMb: number;
  /** The observed copy's pods by app. */
  perPod: Record<string, { cores: number; memoryMb: number }>;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const ok = (xs: number[]) => xs.filter((x) => x >= 0);

/** What the paired statistics need of a block (a BlockRun, or one read back from samples.json.gz). */
export interface PairedSamples {
  cycle: number;
  rate: number;
  config: string;
  observed: number;
  valid: boolean;
  load: { targets: { latenciesUs: number[] }[] };
  hop?: { targets: { latenciesUs: number[] }[] };
}

/** The copy index of `role` in block `b`. */
const copyIndex = (b: PairedSamples, role: Role) => (role === "observed" ? b.observed : 1 - b.observed);

/** Paired samples of `config` at `rate`, per block (frontend load, or the single hop). */
export function pairedBlocks(blocks: PairedSamples[], config: string, rate: number, hop = false): PairedBlock[] {
  return blocks.filter((b) => b.valid && b.config === config && b.rate === rate && (!hop || b.hop)).map((b) => {
    const load = hop ? b.hop! : b.load;
    return { stratum: b.observed, observed: load.targets[b.observed].latenciesUs, unobserved: load.targets[1 - b.observed].latenciesUs };
  });
}

/**
 * Each copy's latencies in the valid blocks of `config` at `rate` beside the same copy's in the valid none
 * block of the same cycle, by the role the copy had in the tested block.
 */
export function cyclePairs(blocks: PairedSamples[], config: string, rate: number): Record<Role, CyclePair[]> {
  const out: Record<Role, CyclePair[]> = { observed: [], unobserved: [] };
  for (const b of blocks.filter((x) => x.valid && x.config === config && x.rate === rate)) {
    const none = blocks.find((x) => x.valid && x.config === "none" && x.rate === rate && x.cycle === b.cycle);
    if (!none) continue;
    for (const role of ["observed", "unobserved"] as const) {
      const copy = copyIndex(b, role);
      out[role].push({ tested: b.load.targets[copy].latenciesUs, control: none.load.targets[copy].latenciesUs });
    }
  }
  return out;
}

/** Figures of the valid blocks of `config` at `rate`; undefined when none was valid. */
export function aggregate(run: BenchRun, config: Config, rate: number): Aggregate | undefined {
  const all = run.blocks.filter((p) => p.config === config && p.rate === rate);
  const blocks = all.filter((b) => b.valid);
  if (blocks.length === 0) return undefined;
  const { plan } = run;
  const cg = (b: BlockRun, dir: string) => b.cores.cgroups[dir] ?? 0;
  const agentDir = (node: string) => path.join(plan.systemCgroup, `agent-${node}`);
  const copyOf = (b: BlockRun, role: Role) => plan.copies[copyIndex(b, role)];
  const podsOf = (b: BlockRun, role: Role) => plan.pods.filter((p) => p.copy === copyOf(b, role));
  const shared = plan.pods.filter((p) => p.copy === undefined);
  const podMb = (b: BlockRun, name: string) => sum(Object.values(b.podMemoryMb[name] ?? {}));
  const roles: Role[] = ["observed", "unobserved"];
  const perRole = <T>(f: (role: Role) => T) => Object.fromEntries(roles.map((r) => [r, f(r)])) as Record<Role, T>;
  const samples = (role: Role) => blocks.flatMap((b) => ok(b.load.targets[copyIndex(b, role)].latenciesUs));
  const blockP99 = (role: Role): [number, number, number] => {
    const v = blocks.map((b) => summarize(ok(b.load.targets[copyIndex(b, role)].latenciesUs)).p99Ms).sort((a, b) => a - b);
    return [v[0], v[Math.floor(v.length / 2)], v[v.length - 1]];
  };
  const nodeCores: Record<string, number> = {};
  for (const n of plan.nodes) nodeCores[n.name] = mean(blocks.map((b) => cg(b, n.cgroup) + cg(b, agentDir(n.name))));
  const perPod: Aggregate["perPod"] = {};
  for (const pod of plan.pods.filter((p) => p.copy === plan.copies[0])) {
    const same = (b: BlockRun) => plan.pods.find((p) => p.app === pod.app && p.copy === copyOf(b, "observed"))!;
    perPod[pod.app] = { cores: mean(blocks.map((b) => cg(b, same(b).cgroup))), memoryMb: mean(blocks.map((b) => podMb(b, same(b).name))) };
  }
  const sidecarPods = (b: BlockRun) => [...podsOf(b, "observed"), ...shared];
  return {
    config,
    rate,
    blocks: blocks.length,
    excluded: all.length - blocks.length,
    latency: perRole((r) => summarize(samples(r))),
    difference: summarize(blocks.flatMap((b) => pairDifferences({ stratum: b.observed, observed: b.load.targets[b.observed].latenciesUs, unobserved: b.load.targets[1 - b.observed].latenciesUs }))),
    achievedRps: perRole((r) => sum(blocks.map((b) => b.load.targets[copyIndex(b, r)].completed)) / sum(blocks.map((b) => b.load.durationS))),
    errors: perRole((r) => sum(blocks.map((b) => b.load.targets[copyIndex(b, r)].errors))),
    blockP99Ms: perRole(blockP99),
    sendLag: summarize(blocks.flatMap((b) => b.load.targets.flatMap((t) => t.sendLagUs))),
    loopDelayMs: { p99: mean(blocks.map((b) => b.load.loopDelayMs.p99)), max: Math.max(...blocks.map((b) => b.load.loopDelayMs.max)) },
    podsCores: perRole((r) => mean(blocks.map((b) => sum(plan.nodes.map((n) => cg(b, copyCgroup(n, copyOf(b, r)))))))),
    loadGeneratorCores: mean(blocks.map((b) => sum(plan.nodes.map((n) => cg(b, path.join(n.cgroup, SHARED)))))),
    nodeCores,
    agentCores: mean(blocks.map((b) => sum(plan.nodes.map((n) => cg(b, agentDir(n.name)))))),
    relayCores: mean(blocks.map((b) => cg(b, path.join(plan.systemCgroup, "relay")))),
    sidecarCores: mean(blocks.map((b) => sum(Object.values(b.sidecarCores)))),
    softirqCores: mean(blocks.map((b) => b.cores.softirq)),
    stealCores: mean(blocks.map((b) => b.cores.steal)),
    busyCores: mean(blocks.map((b) => b.cores.busy)),
    podsMemoryMb: perRole((r) => mean(blocks.map((b) => sum(podsOf(b, r).map((p) => podMb(b, p.name))) + (r === "observed" ? sum(shared.map((p) => b.podMemoryMb[p.name]?.haproxy ?? 0)) : 0)))),
    sidecarMemoryMb: mean(blocks.map((b) => sum(Object.values(b.podMemoryMb).map((m) => m.haproxy ?? 0)))),
    sidecars: config === "sidecar" ? sidecarPods(blocks[0]).length : 0,
    agentMemoryMb: mean(blocks.map((b) => sum(Object.values(b.agentMemoryMb)))),
    relayMemoryMb: mean(blocks.map((b) => b.relayMemoryMb)),
    perPod,
  };
}

const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : "n/a");
const signed = (v: number, d = 3) => (Number.isFinite(v) ? `${v >= 0 ? "+" : ""}${v.toFixed(d)}` : "n/a");

export interface WrittenReport { dir: string; markdown: string; summary: string[] }

const ms = (i: Interval, d = 2) => `${f(i.value / 1000, d)} ms (95% CI ${f(i.lo / 1000, d)} to ${f(i.hi / 1000, d)})`;
const ratio = (i: Interval) => `${f(i.value, 3)} (95% CI ${f(i.lo, 3)}-${f(i.hi, 3)})`;
/** Both p99 ratios, labelled: the primary (per-block geometric mean) and the pooled one. */
const ratios = (p: Paired) => `p99 ratio, primary (geometric mean of ${p.p99Ratio.blocks} blocks' own p99 ratios${p.p99Ratio.tooFewPairs ? `; ${p.p99Ratio.tooFewPairs} blocks with fewer than ${MIN_PAIRS_PER_BLOCK} succeeded pairs left out` : ""}): ` +
  `${ratio(p.p99Ratio)}; pooled p99 ratio, secondary: ${ratio(p.pooledP99Ratio)}`;

/**
 * The paired statistics of one configuration at one rate (frontend load, or the hop): the p99 ratio as the
 * geometric mean of the blocks' own p99 ratios (primary, the verdict's basis) and as the ratio of pooled p99s (secondary).
 */
interface Paired { p99Ratio: BlockRatioInterval; pooledP99Ratio: Interval; median: Interval; p99: Interval }

const pairedCache = new WeakMap<BenchRun, Map<string, Paired | undefined>>();

/** The paired statistics of valid blocks (computed once per run: each takes thousands of resamples). */
function paired(run: BenchRun, config: Config, rate: number, hop = false): Paired | undefined {
  const cache = pairedCache.get(run) ?? new Map<string, Paired | undefined>();
  pairedCache.set(run, cache);
  const key = `${config}/${rate}/${hop}`;
  if (!cache.has(key)) {
    const blocks = pairedBlocks(run.blocks, config, rate, hop);
    cache.set(key, blocks.length === 0 ? undefined : { p99Ratio: blockRatioInterval(blocks, 0.99), pooledP99Ratio: ratioInterval(blocks, 0.99), median: differenceInterval(blocks, 0.5), p99: differenceInterval(blocks, 0.99) });
  }
  return cache.get(key);
}

/** Percentiles of both copies and of the pair difference for the hop of `config`, pooled over its blocks. */
function hopSummaries(run: BenchRun, config: Config): Record<Role | "difference", LatencySummary> | undefined {
  const blocks = run.blocks.filter((b) => b.valid && b.config === config && b.hop);
  if (blocks.length === 0) return undefined;
  const of = (role: Role) => summarize(blocks.flatMap((b) => ok(b.hop!.targets[copyIndex(b, role)].latenciesUs)));
  const difference = summarize(blocks.flatMap((b) => pairDifferences({ stratum: b.observed, observed: b.hop!.targets[b.observed].latenciesUs, unobserved: b.hop!.targets[1 - b.observed].latenciesUs })));
  return { observed: of("observed"), unobserved: of("unobserved"), difference };
}

export function writeReport(run: BenchRun, outRoot: string): WrittenReport {
  const stamp = run.startedAt.replace(/[:.]/g, "-").replace(/-\d{3}Z$/, "Z");
  const dir = path.join(outRoot, `mesh-${stamp}`);
  fs.mkdirSync(dir, { recursive: true });
  const { rates } = run.options;
  const configs = run.configs;
  const { plan } = run;
  const [copyA, copyB] = plan.copies;
  const aggs = rates.flatMap((r) => configs.map((c) => aggregate(run, c, r)).filter((a): a is Aggregate => a !== undefined));
  const get = (c: Config, r: number) => aggs.find((a) => a.config === c && a.rate === r);
  const podsPerCopy = plan.pods.filter((p) => p.copy === copyA).length;
  const roleName = (c: Config, role: Role) => (c === "none" ? (role === "observed" ? "none (observed role)" : "none (other)") : role === "observed" ? `${c} (observed copy)` : `${c} (other copy)`);
  const roles: Role[] = ["observed", "unobserved"];
  const o = run.options;

  const charts: [string, string][] = [];
  for (const r of rates) {
    charts.push([`latency-${r}rps.svg`, barChartSvg({
      title: `Frontend latency at ${r} req/s per copy (open model)`, unit: "ms", groups: ["p50", "p90", "p99"],
      series: configs.flatMap((c) => roles.map((role) => { const l = get(c, r)?.latency[role]; return { name: roleName(c, role), values: [l?.p50Ms ?? NaN, l?.p90Ms ?? NaN, l?.p99Ms ?? NaN] }; })),
    })]);
  }
  charts.push(["cpu.svg", barChartSvg({
    title: "Host CPU busy (all processes, incl. softirq)", unit: "cores", groups: rates.map((r) => `${r} req/s`),
    series: configs.map((c) => ({ name: c, values: rates.map((r) => get(c, r)?.busyCores ?? NaN) })),
  })]);
  charts.push(["memory.svg", barChartSvg({
    title: `Memory (PSS): observed copy's ${podsPerCopy} pods plus sidecars, agents and relay`, unit: "MB", groups: rates.map((r) => `${r} req/s`),
    series: configs.map((c) => ({ name: c, values: rates.map((r) => { const a = get(c, r); return a ? a.podsMemoryMb.observed + a.agentMemoryMb + a.relayMemoryMb : NaN; }) })),
  })]);
  if (o.hopS > 0) {
    charts.push(["hop.svg", barChartSvg({
      title: `One gRPC hop at ${o.hopRate} calls/s per copy`, unit: "ms", groups: ["p50", "p90", "p99"],
      series: configs.flatMap((c) => roles.map((role) => { const h = hopSummaries(run, c)?.[role]; return { name: roleName(c, role), values: [h?.p50Ms ?? NaN, h?.p90Ms ?? NaN, h?.p99Ms ?? NaN] }; })),
    })]);
  }
  for (const [file, svg] of charts) fs.writeFileSync(path.join(dir, file), svg);

  const summary: string[] = [];
  const verdicts: { rate: number; agent: Paired; control: Paired; verdict: Verdict }[] = [];
  for (const r of rates) {
    const agent = configs.includes("agent") ? paired(run, "agent", r) : undefined;
    const control = configs.includes("none") ? paired(run, "none", r) : undefined;
    if (control) summary.push(`A/A control at ${r} req/s (neither copy observed): ${ratios(control)}; paired difference median ${ms(control.median)}, p99 ${ms(control.p99, 1)}`);
    for (const [c, p] of [["none", control], ["agent", agent]] as const) {
      if (configs.includes(c) && !p) summary.push(`no valid ${c} block at ${r} req/s, so no ${c === "none" ? "A/A control" : "agent ratio"} and no verdict`);
    }
    if (!agent) continue;
    const perBlock = (p: Paired) => p.p99Ratio.blocks > 0;
    if (control && perBlock(control) && perBlock(agent)) {
      const v = verdict(agent.p99Ratio, control.p99Ratio, AGENT_P99_TARGET);
      verdicts.push({ rate: r, agent, control, verdict: v });
      summary.push(`agent at ${r} req/s (observed copy / unobserved copy): ${ratios(agent)}. Target <= ${AGENT_P99_TARGET} on the primary ratio: ${v.text}`);
    } else {
      const why = !control ? "no A/A control ran" : `no block had the ${MIN_PAIRS_PER_BLOCK} succeeded pairs a block's own p99 needs`;
      summary.push(`agent at ${r} req/s (observed copy / unobserved copy): ${ratios(agent)}; ${why}, so no verdict`);
    }
    summary.push(`agent paired difference at ${r} req/s (observed minus unobserved latency of the same request pair): median ${ms(agent.median)}, p99 ${ms(agent.p99, 1)}`);
    if (control) {
      const cycles = cyclePairs(run.blocks, "agent", r);
      const [obs, other] = [crossBlockRatioInterval(cycles.observed, 0.99), crossBlockRatioInterval(cycles.unobserved, 0.99)];
      if (obs.blocks > 0) {
        summary.push(`agent on the whole machine at ${r} req/s (a copy's p99 in the agent block over its p99 in the none block of the same cycle, geometric mean over ${obs.blocks} cycles; blocks minutes apart, not paired): observed copy ${ratio(obs)}, other copy ${ratio(other)}`);
      }
    }
  }
  if (o.hopS > 0 && rates.length === 1) {
    const hopAgent = configs.includes("agent") ? paired(run, "agent", rates[0], true) : undefined;
    const hopControl = configs.includes("none") ? paired(run, "none", rates[0], true) : undefined;
    if (hopAgent && hopControl) summary.push(`one gRPC hop at ${o.hopRate} calls/s: agent ${ratios(hopAgent)}, paired difference median ${ms(hopAgent.median, 3)}; A/A control ${ratios(hopControl)}, median ${ms(hopControl.median, 3)}`);
  }
  const hopSidecar = configs.includes("sidecar") ? hopSummaries(run, "sidecar") : undefined;
  const hopSidecarPaired = configs.includes("sidecar") && o.hopS > 0 ? paired(run, "sidecar", rates[0], true) : undefined;
  if (hopSidecar && hopSidecarPaired) {
    const d = (k: "p50Ms" | "p90Ms" | "p99Ms") => signed(hopSidecar.observed[k] - hopSidecar.unobserved[k]);
    summary.push(`one gRPC hop through two sidecars adds p50 ${d("p50Ms")} ms, p90 ${d("p90Ms")} ms, p99 ${d("p99Ms")} ms (percentile of the copy with sidecars minus the other's; paired difference median ${ms(hopSidecarPaired.median, 3)}) (Istio 1.20: +${ISTIO.addedP90Ms} ms p90, +${ISTIO.addedP99Ms} ms p99)`);
  }
  const top = rates[rates.length - 1];
  const sidecar = get("sidecar", top);
  const sidecarPaired = configs.includes("sidecar") ? paired(run, "sidecar", top) : undefined;
  if (sidecar && sidecarPaired) {
    const d = (k: "p50Ms" | "p90Ms" | "p99Ms") => signed(sidecar.latency.observed[k] - sidecar.latency.unobserved[k]);
    summary.push(`sidecar added latency at ${top} req/s: p50 ${d("p50Ms")} ms, p90 ${d("p90Ms")} ms, p99 ${d("p99Ms")} ms (copy with sidecars minus the other; end to end, several sidecar pairs per request); paired difference median ${ms(sidecarPaired.median)}, p99 ${ms(sidecarPaired.p99, 1)}; ${ratios(sidecarPaired)}`);
    summary.push(`sidecar memory: ${f(sidecar.sidecarMemoryMb / Math.max(1, sidecar.sidecars), 1)} MB per sidecar (${sidecar.sidecars} sidecars; Istio: ~${ISTIO.sidecarMemoryMb} MB); sidecars use ${f(sidecar.sidecarCores, 3)} cores in total at ${top} req/s`);
  }
  const excluded = run.blocks.filter((b) => !b.valid);
  summary.push(`${excluded.length} of ${run.blocks.length} blocks left out (${configs.map((c) => `${c} ${excluded.filter((b) => b.config === c).length}`).join(", ")}): ` +
    `the load generator sent its requests' p99 more than ${o.maxSendLagMs} ms behind schedule, so the machine could not run the open model` +
    (excluded.length ? ` (steal in them ${f(Math.min(...excluded.map((b) => b.cores.steal)))}-${f(Math.max(...excluded.map((b) => b.cores.steal)))} cores, in the others ${f(Math.min(...run.blocks.filter((b) => b.valid).map((b) => b.cores.steal)))}-${f(Math.max(...run.blocks.filter((b) => b.valid).map((b) => b.cores.steal)))})` : ""));
  // CPU the lab did not use: other work on the machine, which widens every interval.
  const foreign = Math.max(...aggs.map((a) => a.busyCores - a.podsCores.observed - a.podsCores.unobserved - a.loadGeneratorCores - a.agentCores - a.relayCores - a.softirqCores - a.stealCores));
  const steal = Math.max(...aggs.map((a) => a.stealCores));
  summary.push(`load average (1, 5, 15 min) at the start: ${run.loadAvgStart.split(" ").slice(0, 3).join(" ")}, at the end: ${run.loadAvgEnd.split(" ").slice(0, 3).join(" ")}; ` +
    `other processes used up to ${f(foreign)} of ${os.cpus().length} cores on average over a configuration's blocks, and the hypervisor took up to ${f(steal)} cores (steal)`);

  const agentBlocks = run.blocks.filter((b) => b.config === "agent");
  const linkTypes = agentBlocks[0]?.agentLinks ?? {};
  const rows = (c: Config, r: number) => {
    const a = get(c, r);
    if (!a) return [];
    return roles.map((role) => `| ${r} | ${roleName(c, role)} | ${f(a.latency[role].p50Ms)} | ${f(a.latency[role].p90Ms)} | ${f(a.latency[role].p99Ms)} | ${f(a.latency[role].maxMs)} | ${a.blockP99Ms[role].map((v) => f(v, 1)).join(" / ")} | ${f(a.achievedRps[role], 1)} | ${a.errors[role]} | ${a.latency[role].count} (${a.blocks}; ${a.excluded}) |`);
  };
  const differenceRows = (c: Config, r: number) => {
    const a = get(c, r), p = paired(run, c, r);
    if (!a || !p) return "";
    return `| ${r} | ${c} | ${ms(p.median)} | ${f(a.difference.p90Ms)} | ${ms(p.p99, 1)} | ${ratio(p.p99Ratio)} | ${ratio(p.pooledP99Ratio)} | ${a.difference.count} |`;
  };
  const lagRows = (c: Config, r: number) => {
    const a = get(c, r);
    if (!a) return "";
    return `| ${r} | ${c} | ${f(a.sendLag.p50Ms, 3)} | ${f(a.sendLag.p99Ms, 3)} | ${f(a.sendLag.maxMs, 1)} | ${f(a.loopDelayMs.p99, 1)} | ${f(a.loopDelayMs.max, 1)} |`;
  };
  const cpuRows = (c: Config, r: number) => {
    const a = get(c, r);
    if (!a) return "";
    return `| ${r} | ${c} | ${f(a.podsCores.observed, 3)} | ${f(a.podsCores.unobserved, 3)} | ${f(a.loadGeneratorCores, 3)} | ${plan.nodes.map((n) => f(a.nodeCores[n.name], 3)).join(" | ")} | ${f(a.agentCores, 3)} | ${f(a.relayCores, 3)} | ${f(a.sidecarCores, 3)} | ${f(a.softirqCores, 3)} | ${f(a.stealCores, 3)} | ${f(a.busyCores, 3)} |`;
  };
  const memRows = (c: Config, r: number) => {
    const a = get(c, r);
    if (!a) return "";
    return `| ${r} | ${c} | ${f(a.podsMemoryMb.observed, 1)} | ${f(a.podsMemoryMb.unobserved, 1)} | ${f(a.sidecarMemoryMb, 1)} | ${f(a.agentMemoryMb, 1)} | ${f(a.relayMemoryMb, 1)} |`;
  };
  const hopRows = (c: Config) => {
    const h = hopSummaries(run, c);
    if (!h) return [];
    return [...roles.map((role) => `| ${roleName(c, role)} | ${f(h[role].p50Ms, 3)} | ${f(h[role].p90Ms, 3)} | ${f(h[role].p99Ms, 3)} | ${f(h[role].maxMs, 3)} | ${h[role].count} |`),
      `| ${c}: paired difference | ${f(h.difference.p50Ms, 3)} | ${f(h.difference.p90Ms, 3)} | ${f(h.difference.p99Ms, 3)} | ${f(h.difference.maxMs, 3)} | ${h.difference.count} |`];
  };
  const cpuModel = os.cpus()[0]?.model ?? "unknown CPU";
  const md = [
    `# Observability overhead on the lab replica: none vs eBPF agent vs sidecar`,
    ``,
    `Run ${run.startedAt} on ${os.cpus().length} x ${cpuModel}, Linux ${os.release()}, with \`flowlens bench\`.`,
    `Two identical copies (${copyA} and ${copyB}) of a replica of Online Boutique's topology (${podsPerCopy} pods each on ${plan.nodes.length} nodes; not the real`,
    `images) run side by side, driven at fixed rates by one open-model load generator (latency from each request's`,
    `scheduled start, so queueing is not hidden).`,
    ``,
    `## How the comparison works`,
    ``,
    `The machine this runs on is noisy: in this run the hypervisor took up to ${f(Math.max(...run.blocks.map((b) => b.cores.steal)))} of its ${os.cpus().length} cores in a block (steal), in bursts that stop every`,
    `process at once, so one block's p99 differs from the next block's by far more than a few percent, whatever runs.`,
    `Comparing blocks with each other cannot resolve 3%. This bench compares within blocks instead:`,
    ``,
    `- **Paired requests.** At each scheduled instant the load generator sends the same request to copy ${copyA}'s frontend and`,
    `  to copy ${copyB}'s (alternating which goes first), and records both latencies under the pair. A stall of the machine, of the`,
    `  load generator or of the softirq path strikes both members of a pair alike.`,
    `- **Configurations as assignments.** In an **agent** block one Flowlens agent per node observes one copy's cgroup`,
    `  subtree on that node (\`--cgroup-root <node>/<copy>\`), with the relay pulling from both agents; the other copy is not`,
    `  observed. In a **sidecar** block every pod of one copy has an HAProxy sidecar (and the shared load generator's`,
    `  sidecar intercepts its traffic to that copy only). In a **none** block neither copy has anything: the A/A control.`,
    `- **Alternation.** The copy under the configuration (in none blocks: the copy in the "observed" role) is ${copyA}, ${copyB}, ${copyB}, ${copyA}`,
    `  over cycles, and each cycle runs every configuration once per rate in mirrored order on odd cycles, so any difference`,
    `  between the copies, and drift over the run, cancel.`,
    `- **Statistics.** The p99 ratio, the primary estimator and the verdict's basis, is the geometric mean over a`,
    `  configuration's blocks of each block's own ratio: the observed copy's p99 over the unobserved copy's, both over the`,
    `  pairs in which both requests succeeded (failures are counted per copy under errors). Every block weighs the same,`,
    `  and a stall that slows both copies of a block alike leaves that block's ratio where it was. A block needs at least`,
    `  ${MIN_PAIRS_PER_BLOCK} succeeded pairs for a p99 of its own (the bench refuses a rate and --measure that schedule fewer); one with`,
    `  fewer is counted and left out. This estimator was adopted after a 40-cycle run in which it was computed after the`,
    `  fact; the pooled p99 ratio (the p99 of the observed copy's samples pooled over the blocks over that of the`,
    `  unobserved copy's), the earlier primary, is reported beside it as a secondary figure: it is set by the few blocks`,
    `  the machine stalled most. The paired difference is observed minus unobserved latency of the same pair. Intervals`,
    `  are 95% percentile bootstraps (2,000 resamples) that draw whole blocks with replacement, separately among blocks`,
    `  with each copy observed. The A/A control is the same ratio in none blocks: its interval is the resolution of the`,
    `  instrument. The paired ratio leaves out what the agents and relay cost the machine as a whole, as that slows`,
    `  both copies alike: "on the whole machine" compares each copy's p99 in an agent block with its p99 in the none`,
    `  block of the same cycle (geometric mean over cycles, bootstrap over cycles). Those blocks ran one after the other,`,
    `  so that figure also carries whatever changed on the machine between them.`,
    `- **Valid blocks.** A block enters the statistics only if the load generator sent 99% of its requests within`,
    `  ${o.maxSendLagMs} ms of their scheduled start. In steal storms (the hypervisor taking most of the cores for minutes) the`,
    `  machine cannot carry the load at all, queues grow without bound in both copies independently, and single blocks`,
    `  reach p99s of seconds that would dominate every pooled p99. The rule looks only at the load generator, which`,
    `  serves both copies alike, so it cannot favour either copy; excluded blocks are counted below.`,
    `- **Verdict.** On the primary p99 ratio: the 3% target is **shown** only when the agent's whole interval lies at or below ${AGENT_P99_TARGET} and the A/A`,
    `  interval lies within ±${((AGENT_P99_TARGET - 1) * 100).toFixed(0)}%; it is **below the resolution** while the A/A interval reaches ${((AGENT_P99_TARGET - 1) * 100).toFixed(0)}% or further from 1, whatever the`,
    `  agent's interval says; otherwise it is **not shown**.`,
    ``,
    `What the pairing cancels is what strikes both copies: the per-packet work of the agent's eBPF programs and a`,
    `sidecar's extra hops fall on the observed copy's requests only, so they stay in the ratio. The agent's and relay's`,
    `own CPU time is taken from both copies alike (they share the cores), so it is reported as CPU below rather than`,
    `hidden in the ratio; compare the unobserved copy's latency in agent and none blocks to see it, without pairing.`,
    ``,
    `Both copies stay up for the whole run (warmed up for ${o.prewarmS} s first). ${run.blocks.length} blocks: ${o.cycles} cycles. A block: switch, every`,
    `replica process re-opens its connections, ${o.settleS} s settle and until the lab's processes are idle, ${o.warmupS} s unrecorded load,`,
    `${o.measureS} s measured` + (o.hopS > 0 ? `, then ${o.hopS} s of paired single-hop load.` : ".") + ` Every lab process ran at niceness ${o.nice} in all configurations.`,
    `bpftool showed the agents' links in every agent block (${Object.entries(linkTypes).map(([t, n]) => `${n} ${t}`).join(", ") || "none recorded"}), all on the observed copy's`,
    `groups, and none left attached before any other block; the agents received ${agentBlocks.length ? f(mean(agentBlocks.map((b) => b.agentKernelEvents)), 0) : "n/a"} kernel records per block on average.`,
    ``,
    `## Summary`,
    ``,
    ...summary.map((line) => `- ${line}`),
    ``,
    `Istio's published figures for comparison: a sidecar costs about ${ISTIO.sidecarVcpuPer1000Rps} vCPU and ${ISTIO.sidecarMemoryMb} MB at 1000 req/s`,
    `(Istio 1.24, 1 KB payload); two sidecars add ${ISTIO.addedP90Ms} ms at p90 and ${ISTIO.addedP99Ms} ms at p99 (Istio 1.20); injected`,
    `requests are ${ISTIO.injectedRequests}. HAProxy in TCP mode does less per byte than Envoy's HTTP/2-aware proxying, so these`,
    `sidecar figures are a lower bound for what a full mesh costs.`,
    ``,
    `## Latency per copy (ms)`,
    ``,
    `Valid blocks only.`,
    ``,
    `| req/s | configuration (copy) | p50 | p90 | p99 | max | block p99 min / median / max | achieved req/s | errors | samples (blocks; excluded) |`,
    `|---|---|---|---|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => configs.flatMap((c) => rows(c, r))),
    ``,
    ...rates.map((r) => `![latency at ${r} req/s](latency-${r}rps.svg)`),
    ``,
    `## Paired difference (observed minus unobserved latency of the same pair)`,
    ``,
    `| req/s | configuration | median | p90 (ms) | p99 | p99 ratio (geometric mean of blocks', primary) | pooled p99 ratio (secondary) | pairs |`,
    `|---|---|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => configs.map((c) => differenceRows(c, r))),
    ``,
    `## The load generator's own delay (ms)`,
    ``,
    `Latencies run from each request's scheduled start, so a late load generator (its own garbage collection, or no`,
    `free core when a request was due) is inside the figures above, for both members of a pair. Send lag is how long`,
    `after its scheduled start each request was sent (both copies); event-loop delay is the load generator's, sampled`,
    `every 10 ms.`,
    ``,
    `| req/s | configuration | send lag p50 | send lag p99 | send lag max | event-loop delay p99 (mean of blocks) | event-loop delay max |`,
    `|---|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => configs.map((c) => lagRows(c, r))),
    ``,
    ...(o.hopS > 0 ? [
      `## One service-to-service hop (ms)`,
      ``,
      `After each block's frontend load, the load generator calls each copy's currencyservice Convert directly over gRPC at`,
      `${o.hopRate} calls/s for ${o.hopS} s (paired, same open model), pooled over all blocks of a configuration. With sidecars the call to the`,
      `copy with sidecars crosses two (the load generator's outbound and the callee's inbound), as in Istio's two-sidecar figures.`,
      ``,
      `| configuration (copy) | p50 | p90 | p99 | max | samples |`,
      `|---|---|---|---|---|---|`,
      ...configs.flatMap(hopRows),
      ``,
      `![one hop](hop.svg)`,
      ``,
    ] : []),
    `## CPU (cores, mean over the measured windows of valid blocks)`,
    ``,
    `Copies, the load generator and nodes from cgroup v2 \`cpu.stat\` (a node is both copies' pods on it, the load`,
    `generator if it runs there, plus its agent); sidecars from their processes' \`/proc/<pid>/stat\` (already inside their`,
    `pods' figures); softirq, steal and busy are host-wide from \`/proc/stat\` (softirq is charged to no cgroup; steal is`,
    `time the hypervisor ran other machines while this one had work, which stalls every process here alike).`,
    ``,
    `| req/s | configuration | observed copy's pods | other copy's pods | load generator | ${plan.nodes.map((n) => n.name).join(" | ")} | agents | relay | sidecars | softirq | steal | host busy (steal included) |`,
    `|---|---|---|---|---|${plan.nodes.map(() => "---").join("|")}|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => configs.map((c) => cpuRows(c, r))),
    ``,
    `![CPU](cpu.svg)`,
    ``,
    `## Memory (MB of PSS after each valid block's load)`,
    ``,
    `| req/s | configuration | observed copy's pods (incl. sidecars) | other copy's pods | sidecars | agents | relay |`,
    `|---|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => configs.map((c) => memRows(c, r))),
    ``,
    `![memory](memory.svg)`,
    ``,
    `## Per pod of the observed copy at ${top} req/s (cores / MB)`,
    ``,
    `| pod | ${configs.join(" | ")} |`,
    `|---|${configs.map(() => "---").join("|")}|`,
    ...plan.pods.filter((p) => p.copy === copyA).map((p) => `| ${p.app} (${p.node.name}) | ${configs.map((c) => { const a = get(c, top); return a ? `${f(a.perPod[p.app].cores, 3)} / ${f(a.perPod[p.app].memoryMb, 1)}` : "n/a"; }).join(" | ")} |`),
    ``,
  ].join("\n");
  fs.writeFileSync(path.join(dir, "report.md"), md);
  const compact = (l: BlockRun["load"]) => ({
    ...l,
    targets: l.targets.map((t) => ({ completed: t.completed, errors: t.errors, summary: summarize(ok(t.latenciesUs)), sendLag: summarize(t.sendLagUs) })),
  });
  const raw = run.blocks.map(({ load, hop: h, ...rest }) => ({ ...rest, copy: plan.copies[rest.observed], load: compact(load), hop: h ? compact(h) : undefined }));
  fs.writeFileSync(path.join(dir, "blocks.json"), JSON.stringify({ verdicts, blocks: raw }, null, 1));
  // Every latency, by block and copy (-1: failed), so the statistics can be recomputed another way.
  const samples = run.blocks.map((b) => ({ cycle: b.cycle, rate: b.rate, config: b.config, observed: b.observed, valid: b.valid,
    load: b.load.targets.map((t) => t.latenciesUs), hop: b.hop?.targets.map((t) => t.latenciesUs) }));
  fs.writeFileSync(path.join(dir, "samples.json.gz"), zlib.gzipSync(JSON.stringify({ copies: plan.copies, blocks: samples })));
  return { dir, markdown: path.join(dir, "report.md"), summary };
}
