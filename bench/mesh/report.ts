// The Markdown report with SVG plots: latency, CPU and memory per arm and
// rate, the agent's p99 against the 3% target with a bootstrap interval and
// the A/A control's noise floor, and the sidecar's cost set beside Istio's
// published figures.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Arm, BenchRun, BlockRun } from "./run";
import { ratioInterval, summarize, verdict, type LatencySummary, type RatioInterval, type Verdict } from "./stats";
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

export interface Aggregate {
  arm: Arm;
  rate: number;
  latency: LatencySummary;
  achievedRps: number;
  errors: number;
  blocks: number;
  /** Lowest, median and highest p99 of single blocks, to show how much one block swings. */
  blockP99Ms: [number, number, number];
  /** How late the load generator sent its requests (already inside `latency`). */
  sendLag: LatencySummary;
  /** The load generator's event-loop delay: mean of the blocks' p99s, and the highest of their maxima. */
  loopDelayMs: { p99: number; max: number };
  /** Mean cores over blocks. */
  podsCores: number;
  nodeCores: Record<string, number>;
  agentCores: number;
  relayCores: number;
  sidecarCores: number;
  softirqCores: number;
  /** Cores the hypervisor gave to other machines while this one had work (host-wide). */
  stealCores: number;
  busyCores: number;
  podsMemoryMb: number;
  sidecarMemoryMb: number;
  agentMemoryMb: number;
  relayMemoryMb: number;
  perPod: Record<string, { cores: number; memoryMb: number }>;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export function aggregate(run: BenchRun, arm: Arm, rate: number): Aggregate | undefined {
  const phases = run.blocks.filter((p) => p.arm === arm && p.rate === rate);
  if (phases.length === 0) return undefined;
  const { plan } = run;
  const cg = (p: BlockRun, dir: string) => p.cores.cgroups[dir] ?? 0;
  const agentDir = (node: string) => path.join(plan.systemCgroup, `agent-${node}`);
  const nodeCores: Record<string, number> = {};
  for (const n of plan.nodes) nodeCores[n.name] = mean(phases.map((p) => cg(p, n.cgroup) + cg(p, agentDir(n.name))));
  const perPod: Aggregate["perPod"] = {};
  for (const pod of plan.pods) {
    perPod[pod.app] = {
      cores: mean(phases.map((p) => cg(p, pod.cgroup))),
      memoryMb: mean(phases.map((p) => sum(Object.values(p.podMemoryMb[pod.app] ?? {})))),
    };
  }
  const blockP99 = phases.map((p) => summarize(p.load.latenciesUs).p99Ms).sort((a, b) => a - b);
  return {
    arm,
    rate,
    blocks: phases.length,
    blockP99Ms: [blockP99[0], blockP99[Math.floor(blockP99.length / 2)], blockP99[blockP99.length - 1]],
    latency: summarize(phases.flatMap((p) => p.load.latenciesUs)),
    sendLag: summarize(phases.flatMap((p) => p.load.sendLagUs)),
    loopDelayMs: { p99: mean(phases.map((p) => p.load.loopDelayMs.p99)), max: Math.max(...phases.map((p) => p.load.loopDelayMs.max)) },
    achievedRps: sum(phases.map((p) => p.load.completed)) / sum(phases.map((p) => p.load.durationS)),
    errors: sum(phases.map((p) => p.load.errors)),
    podsCores: mean(phases.map((p) => sum(plan.nodes.map((n) => cg(p, n.cgroup))))),
    nodeCores,
    agentCores: mean(phases.map((p) => sum(plan.nodes.map((n) => cg(p, agentDir(n.name)))))),
    relayCores: mean(phases.map((p) => cg(p, path.join(plan.systemCgroup, "relay")))),
    sidecarCores: mean(phases.map((p) => sum(Object.values(p.sidecarCores)))),
    softirqCores: mean(phases.map((p) => p.cores.softirq)),
    stealCores: mean(phases.map((p) => p.cores.steal)),
    busyCores: mean(phases.map((p) => p.cores.busy)),
    podsMemoryMb: mean(phases.map((p) => sum(Object.values(p.podMemoryMb).flatMap((m) => Object.values(m))))),
    sidecarMemoryMb: mean(phases.map((p) => sum(Object.values(p.podMemoryMb).map((m) => m.haproxy ?? 0)))),
    agentMemoryMb: mean(phases.map((p) => sum(Object.values(p.agentMemoryMb)))),
    relayMemoryMb: mean(phases.map((p) => p.relayMemoryMb)),
    perPod,
  };
}

const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : "n/a");
const signed = (v: number, d = 3) => (Number.isFinite(v) ? `${v >= 0 ? "+" : ""}${v.toFixed(d)}` : "n/a");
const pct = (ratio: number) => (Number.isFinite(ratio) ? `${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(1)}%` : "n/a");

export interface WrittenReport { dir: string; markdown: string; summary: string[] }

/** Per-cycle samples of `arm` at `rate` (frontend load, or the single hop). */
function cycles(run: BenchRun, arm: Arm, rate: number, hop: boolean): number[][] {
  const out: number[][] = Array.from({ length: run.options.cycles }, () => []);
  for (const b of run.blocks) if (b.arm === arm && b.rate === rate) out[b.cycle].push(...((hop ? b.hop?.latenciesUs : b.load.latenciesUs) ?? []));
  return out.filter((c) => c.length > 0);
}

/** The p99 ratio of `arm` to none at `rate` with its interval, if both arms ran in the same cycles. */
function p99Ratio(run: BenchRun, arm: Arm, rate: number, hop = false): RatioInterval | undefined {
  const a = cycles(run, "none", rate, hop), b = cycles(run, arm, rate, hop);
  return a.length > 0 && a.length === b.length ? ratioInterval(a, b, 0.99) : undefined;
}

const interval = (r: RatioInterval) => `${f(r.ratio, 3)} (95% CI ${f(r.lo, 3)}-${f(r.hi, 3)})`;

export function writeReport(run: BenchRun, outRoot: string): WrittenReport {
  const stamp = run.startedAt.replace(/[:.]/g, "-").replace(/-\d{3}Z$/, "Z");
  const dir = path.join(outRoot, `mesh-${stamp}`);
  fs.mkdirSync(dir, { recursive: true });
  const { rates } = run.options;
  const arms = run.arms;
  const aggs = rates.flatMap((r) => arms.map((c) => aggregate(run, c, r)).filter((a): a is Aggregate => a !== undefined));
  const get = (c: Arm, r: number) => aggs.find((a) => a.arm === c && a.rate === r);
  const pods = run.plan.pods.length;
  const hopSummary = (c: Arm) => summarize(run.blocks.filter((p) => p.arm === c).flatMap((p) => p.hop?.latenciesUs ?? []));
  const hop = (c: Arm) => (arms.includes(c) && run.options.hopS > 0 ? hopSummary(c) : undefined);

  const charts: [string, string][] = [];
  for (const r of rates) {
    charts.push([`latency-${r}rps.svg`, barChartSvg({
      title: `Frontend latency at ${r} req/s (open model)`, unit: "ms", groups: ["p50", "p90", "p99"],
      series: arms.map((c) => ({ name: c, values: [get(c, r)?.latency.p50Ms ?? NaN, get(c, r)?.latency.p90Ms ?? NaN, get(c, r)?.latency.p99Ms ?? NaN] })),
    })]);
  }
  charts.push(["cpu.svg", barChartSvg({
    title: "Host CPU busy (all processes, incl. softirq)", unit: "cores", groups: rates.map((r) => `${r} req/s`),
    series: arms.map((c) => ({ name: c, values: rates.map((r) => get(c, r)?.busyCores ?? NaN) })),
  })]);
  charts.push(["memory.svg", barChartSvg({
    title: `Memory (PSS): ${pods} pods plus agents and relay`, unit: "MB", groups: rates.map((r) => `${r} req/s`),
    series: arms.map((c) => ({ name: c, values: rates.map((r) => { const a = get(c, r); return a ? a.podsMemoryMb + a.agentMemoryMb + a.relayMemoryMb : NaN; }) })),
  })]);
  if (run.options.hopS > 0) {
    charts.push(["hop.svg", barChartSvg({
      title: `One gRPC hop at ${run.options.hopRate} calls/s`, unit: "ms", groups: ["p50", "p90", "p99"],
      series: arms.map((c) => { const h = hopSummary(c); return { name: c, values: [h.p50Ms, h.p90Ms, h.p99Ms] }; }),
    })]);
  }
  for (const [file, svg] of charts) fs.writeFileSync(path.join(dir, file), svg);

  const summary: string[] = [];
  const verdicts: { rate: number; agent: RatioInterval; control: RatioInterval; verdict: Verdict }[] = [];
  for (const r of rates) {
    const agent = p99Ratio(run, "agent", r), control = p99Ratio(run, "none-aa", r);
    if (!agent || !control) continue;
    const v = verdict(agent, control, AGENT_P99_TARGET);
    verdicts.push({ rate: r, agent, control, verdict: v });
    summary.push(`agent p99 / none p99 at ${r} req/s: ${interval(agent)}; A/A control none / none: ${interval(control)}. Target <= ${AGENT_P99_TARGET}: ${v.text}`);
  }
  const hopAgent = p99Ratio(run, "agent", rates[0], true), hopControl = p99Ratio(run, "none-aa", rates[0], true);
  if (run.options.hopS > 0 && rates.length === 1 && hopAgent && hopControl) {
    summary.push(`one gRPC hop at ${run.options.hopRate} calls/s: agent p99 / none p99 = ${interval(hopAgent)}; A/A control ${interval(hopControl)}`);
  }
  const hopNone = hop("none"), hopSidecar = hop("sidecar");
  if (hopNone && hopSidecar) {
    summary.push(`one gRPC hop through two sidecars adds p50 ${signed(hopSidecar.p50Ms - hopNone.p50Ms)} ms, p90 ${signed(hopSidecar.p90Ms - hopNone.p90Ms)} ms, p99 ${signed(hopSidecar.p99Ms - hopNone.p99Ms)} ms (Istio 1.20: +${ISTIO.addedP90Ms} ms p90, +${ISTIO.addedP99Ms} ms p99)`);
  }
  const top = rates[rates.length - 1];
  const none = get("none", top), sidecar = get("sidecar", top);
  if (none && sidecar) {
    summary.push(`sidecar added latency at ${top} req/s: p50 ${signed(sidecar.latency.p50Ms - none.latency.p50Ms)} ms, p90 ${signed(sidecar.latency.p90Ms - none.latency.p90Ms)} ms, p99 ${signed(sidecar.latency.p99Ms - none.latency.p99Ms)} ms (end to end, several sidecar pairs per request)`);
    summary.push(`sidecar memory: ${f(sidecar.sidecarMemoryMb / pods, 1)} MB per sidecar (Istio: ~${ISTIO.sidecarMemoryMb} MB); sidecars use ${f(sidecar.sidecarCores, 3)} cores in total at ${top} req/s`);
  }
  // CPU the lab did not use: other work on the machine, which widens every interval.
  const foreign = Math.max(...aggs.map((a) => a.busyCores - a.podsCores - a.agentCores - a.relayCores - a.softirqCores - a.stealCores));
  const steal = Math.max(...aggs.map((a) => a.stealCores));
  summary.push(`load average (1, 5, 15 min) at the start: ${run.loadAvgStart.split(" ").slice(0, 3).join(" ")}, at the end: ${run.loadAvgEnd.split(" ").slice(0, 3).join(" ")}; ` +
    `other processes used up to ${f(foreign)} of ${os.cpus().length} cores on average over an arm's blocks, and the hypervisor took up to ${f(steal)} cores (steal)`);

  const agentBlocks = run.blocks.filter((b) => b.arm === "agent");
  const linkTypes = agentBlocks[0]?.agentLinks ?? {};
  const rows = (c: Arm, r: number) => {
    const a = get(c, r);
    if (!a) return "";
    return `| ${r} | ${c} | ${f(a.latency.p50Ms)} | ${f(a.latency.p90Ms)} | ${f(a.latency.p99Ms)} | ${f(a.latency.maxMs)} | ${a.blockP99Ms.map((v) => f(v, 1)).join(" / ")} | ${f(a.achievedRps, 1)} | ${a.errors} | ${a.latency.count} (${a.blocks}) |`;
  };
  const lagRows = (c: Arm, r: number) => {
    const a = get(c, r);
    if (!a) return "";
    return `| ${r} | ${c} | ${f(a.sendLag.p50Ms, 3)} | ${f(a.sendLag.p99Ms, 3)} | ${f(a.sendLag.maxMs, 1)} | ${f(a.loopDelayMs.p99, 1)} | ${f(a.loopDelayMs.max, 1)} |`;
  };
  const cpuRows = (c: Arm, r: number) => {
    const a = get(c, r);
    if (!a) return "";
    return `| ${r} | ${c} | ${f(a.podsCores, 3)} | ${run.plan.nodes.map((n) => f(a.nodeCores[n.name], 3)).join(" | ")} | ${f(a.agentCores, 3)} | ${f(a.relayCores, 3)} | ${f(a.sidecarCores, 3)} | ${f(a.softirqCores, 3)} | ${f(a.stealCores, 3)} | ${f(a.busyCores, 3)} |`;
  };
  const memRows = (c: Arm, r: number) => {
    const a = get(c, r);
    if (!a) return "";
    return `| ${r} | ${c} | ${f(a.podsMemoryMb, 1)} | ${f(a.sidecarMemoryMb, 1)} | ${f(a.agentMemoryMb, 1)} | ${f(a.relayMemoryMb, 1)} |`;
  };
  const o = run.options;
  const cpuModel = os.cpus()[0]?.model ?? "unknown CPU";
  const md = [
    `# Observability overhead on the lab replica: none vs eBPF agent vs sidecar`,
    ``,
    `Run ${run.startedAt} on ${os.cpus().length} x ${cpuModel}, Linux ${os.release()}, with \`flowlens bench\`.`,
    `Replica of Online Boutique's topology (${pods} pods on ${run.plan.nodes.length} nodes; not the real images), driven at fixed`,
    `rates by an open-model load generator (latency from each request's scheduled start, so queueing is not hidden).`,
    ``,
    `One replica stays up for the whole run (warmed up for ${o.prewarmS} s first) and is switched between configurations in`,
    `${run.blocks.length} blocks: ${o.cycles} cycles, each running every arm once per rate, in mirrored order on odd cycles`,
    `(ABBA: over each pair of cycles every arm has the same mean position, so drift cancels). A block: switch, every`,
    `replica process re-opens its connections, ${o.settleS} s settle, ${o.warmupS} s unrecorded load, ${o.measureS} s measured` +
      (o.hopS > 0 ? `, then ${o.hopS} s of single-hop load.` : "."),
    `Samples are pooled per arm. Every lab process ran at niceness ${o.nice} in all configurations.`,
    ``,
    `- **none**: the replica alone. **none-aa**: the same, as a second arm: the A/A control whose difference from`,
    `  **none** is pure noise, so its interval is the resolution of the instrument.`,
    `- **agent**: a Flowlens agent per node (eBPF, observing that node's cgroup subtree) plus the relay pulling from both,`,
    `  started for each agent block and stopped after it. bpftool showed the agents' links in every agent block`,
    `  (${Object.entries(linkTypes).map(([t, n]) => `${n} ${t}`).join(", ") || "none recorded"}) and none left attached before any other block;`,
    `  the agents received ${agentBlocks.length ? f(mean(agentBlocks.map((b) => b.agentKernelEvents)), 0) : "n/a"} kernel records per block on average.`,
    `- **sidecar**: an HAProxy sidecar in every pod (TCP mode), all pod traffic redirected to it with nftables like Istio's`,
    `  iptables REDIRECT (outbound 15001, inbound 15006).`,
    ``,
    `## Summary`,
    ``,
    ...summary.map((s) => `- ${s}`),
    ``,
    `The interval for a ratio is a percentile bootstrap (2,000 resamples) that draws whole cycles with replacement, so each`,
    `resample keeps the arms' blocks paired in time. While the A/A control's interval reaches further than`,
    `${((AGENT_P99_TARGET - 1) * 100).toFixed(0)}% from 1, the target is below the resolution of the instrument whatever the agent's interval says;`,
    `otherwise it is shown when the agent's whole interval lies at or below ${AGENT_P99_TARGET}.`,
    ``,
    `Istio's published figures for comparison: a sidecar costs about ${ISTIO.sidecarVcpuPer1000Rps} vCPU and ${ISTIO.sidecarMemoryMb} MB at 1000 req/s`,
    `(Istio 1.24, 1 KB payload); two sidecars add ${ISTIO.addedP90Ms} ms at p90 and ${ISTIO.addedP99Ms} ms at p99 (Istio 1.20); injected`,
    `requests are ${ISTIO.injectedRequests}. HAProxy in TCP mode does less per byte than Envoy's HTTP/2-aware proxying, so these`,
    `sidecar figures are a lower bound for what a full mesh costs.`,
    ``,
    `## Latency (ms)`,
    ``,
    `| req/s | arm | p50 | p90 | p99 | max | block p99 min / median / max | achieved req/s | errors | samples (blocks) |`,
    `|---|---|---|---|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => arms.map((c) => rows(c, r))),
    ``,
    ...rates.map((r) => `![latency at ${r} req/s](latency-${r}rps.svg)`),
    ``,
    `## The load generator's own delay (ms)`,
    ``,
    `Latencies run from each request's scheduled start, so a late load generator (its own garbage collection, or no`,
    `free core when a request was due) is inside the figures above. Send lag is how long after its scheduled start`,
    `each request was sent; event-loop delay is the load generator's, sampled every 10 ms.`,
    ``,
    `| req/s | arm | send lag p50 | send lag p99 | send lag max | event-loop delay p99 (mean of blocks) | event-loop delay max |`,
    `|---|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => arms.map((c) => lagRows(c, r))),
    ``,
    ...(o.hopS > 0 ? [
      `## One service-to-service hop (ms)`,
      ``,
      `After each block's frontend load, the load generator calls currencyservice's Convert directly over gRPC at`,
      `${o.hopRate} calls/s for ${o.hopS} s (same open model), pooled over all blocks of an arm. With sidecars the call crosses`,
      `two (the caller's outbound and the callee's inbound), as in Istio's two-sidecar figures.`,
      ``,
      `| arm | p50 | p90 | p99 | max | samples |`,
      `|---|---|---|---|---|---|`,
      ...arms.map((c) => { const h = hop(c); return h ? `| ${c} | ${f(h.p50Ms, 3)} | ${f(h.p90Ms, 3)} | ${f(h.p99Ms, 3)} | ${f(h.maxMs, 3)} | ${h.count} |` : ""; }),
      ``,
      `![one hop](hop.svg)`,
      ``,
    ] : []),
    `## CPU (cores, mean over the measured windows)`,
    ``,
    `Pods and nodes from cgroup v2 \`cpu.stat\` (a node is its pods plus its agent); sidecars from their processes'`,
    `\`/proc/<pid>/stat\` (already inside their pods' figures); softirq, steal and busy are host-wide from \`/proc/stat\``,
    `(softirq is charged to no cgroup; steal is time the hypervisor ran other machines while this one had work, which`,
    `stalls every process here alike).`,
    ``,
    `| req/s | arm | pods | ${run.plan.nodes.map((n) => n.name).join(" | ")} | agents | relay | sidecars | softirq | steal | host busy (steal included) |`,
    `|---|---|---|${run.plan.nodes.map(() => "---").join("|")}|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => arms.map((c) => cpuRows(c, r))),
    ``,
    `![CPU](cpu.svg)`,
    ``,
    `## Memory (MB of PSS after each block's load)`,
    ``,
    `| req/s | arm | pods (incl. sidecars) | sidecars | agents | relay |`,
    `|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => arms.map((c) => memRows(c, r))),
    ``,
    `![memory](memory.svg)`,
    ``,
    `## Per pod at ${top} req/s (cores / MB)`,
    ``,
    `| pod | ${arms.join(" | ")} |`,
    `|---|${arms.map(() => "---").join("|")}|`,
    ...run.plan.pods.map((p) => `| ${p.app} (${p.node.name}) | ${arms.map((c) => { const a = get(c, top); return a ? `${f(a.perPod[p.app].cores, 3)} / ${f(a.perPod[p.app].memoryMb, 1)}` : "n/a"; }).join(" | ")} |`),
    ``,
  ].join("\n");
  fs.writeFileSync(path.join(dir, "report.md"), md);
  const raw = run.blocks.map(({ load, hop: h, ...rest }) => ({
    ...rest,
    load: { ...load, latenciesUs: undefined, sendLagUs: undefined, summary: summarize(load.latenciesUs), sendLag: summarize(load.sendLagUs) },
    hop: h ? { ...h, latenciesUs: undefined, sendLagUs: undefined, summary: summarize(h.latenciesUs), sendLag: summarize(h.sendLagUs) } : undefined,
  }));
  fs.writeFileSync(path.join(dir, "blocks.json"), JSON.stringify({ verdicts, blocks: raw }, null, 1));
  return { dir, markdown: path.join(dir, "report.md"), summary };
}
