// The Markdown report with SVG plots: latency, CPU and memory per
// configuration and rate, the agent's p99 against the 3% target, and the
// sidecar's cost set beside Istio's published figures.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BenchRun, Config, PhaseResult } from "./run";
import { summarize, type LatencySummary } from "./stats";
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
  config: Config;
  rate: number;
  latency: LatencySummary;
  achievedRps: number;
  errors: number;
  /** Mean cores over rounds. */
  podsCores: number;
  nodeCores: Record<string, number>;
  agentCores: number;
  relayCores: number;
  sidecarCores: number;
  softirqCores: number;
  busyCores: number;
  podsMemoryMb: number;
  sidecarMemoryMb: number;
  agentMemoryMb: number;
  relayMemoryMb: number;
  perPod: Record<string, { cores: number; memoryMb: number }>;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export function aggregate(run: BenchRun, config: Config, rate: number): Aggregate | undefined {
  const phases = run.phases.filter((p) => p.config === config && p.rate === rate);
  if (phases.length === 0) return undefined;
  const { plan } = run;
  const cg = (p: PhaseResult, dir: string) => p.cores.cgroups[dir] ?? 0;
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
  return {
    config,
    rate,
    latency: summarize(phases.flatMap((p) => p.load.latenciesUs)),
    achievedRps: sum(phases.map((p) => p.load.completed)) / sum(phases.map((p) => p.load.durationS)),
    errors: sum(phases.map((p) => p.load.errors)),
    podsCores: mean(phases.map((p) => sum(plan.nodes.map((n) => cg(p, n.cgroup))))),
    nodeCores,
    agentCores: mean(phases.map((p) => sum(plan.nodes.map((n) => cg(p, agentDir(n.name)))))),
    relayCores: mean(phases.map((p) => cg(p, path.join(plan.systemCgroup, "relay")))),
    sidecarCores: mean(phases.map((p) => sum(Object.values(p.sidecarCores)))),
    softirqCores: mean(phases.map((p) => p.cores.softirq)),
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

export function writeReport(run: BenchRun, outRoot: string): WrittenReport {
  const stamp = run.startedAt.replace(/[:.]/g, "-").replace(/-\d{3}Z$/, "Z");
  const dir = path.join(outRoot, `mesh-${stamp}`);
  fs.mkdirSync(dir, { recursive: true });
  const { rates, configs } = run.options;
  const aggs = rates.flatMap((r) => configs.map((c) => aggregate(run, c, r)).filter((a): a is Aggregate => a !== undefined));
  const get = (c: Config, r: number) => aggs.find((a) => a.config === c && a.rate === r);
  const pods = run.plan.pods.length;

  const charts: [string, string][] = [];
  for (const r of rates) {
    charts.push([`latency-${r}rps.svg`, barChartSvg({
      title: `Frontend latency at ${r} req/s (open model)`, unit: "ms", groups: ["p50", "p90", "p99"],
      series: configs.map((c) => ({ name: c, values: [get(c, r)?.latency.p50Ms ?? NaN, get(c, r)?.latency.p90Ms ?? NaN, get(c, r)?.latency.p99Ms ?? NaN] })),
    })]);
  }
  charts.push(["cpu.svg", barChartSvg({
    title: "Host CPU busy (all processes, incl. softirq)", unit: "cores", groups: rates.map((r) => `${r} req/s`),
    series: configs.map((c) => ({ name: c, values: rates.map((r) => get(c, r)?.busyCores ?? NaN) })),
  })]);
  charts.push(["memory.svg", barChartSvg({
    title: `Memory (PSS): ${pods} pods plus agents and relay`, unit: "MB", groups: rates.map((r) => `${r} req/s`),
    series: configs.map((c) => ({ name: c, values: rates.map((r) => { const a = get(c, r); return a ? a.podsMemoryMb + a.agentMemoryMb + a.relayMemoryMb : NaN; }) })),
  })]);
  const hopSummary = (c: Config) => summarize(run.phases.filter((p) => p.config === c).flatMap((p) => p.hop.latenciesUs));
  charts.push(["hop.svg", barChartSvg({
    title: `One gRPC hop at ${run.options.hopRate} calls/s`, unit: "ms", groups: ["p50", "p90", "p99"],
    series: configs.map((c) => { const h = hopSummary(c); return { name: c, values: [h.p50Ms, h.p90Ms, h.p99Ms] }; }),
  })]);
  for (const [file, svg] of charts) fs.writeFileSync(path.join(dir, file), svg);

  const top = rates[rates.length - 1];
  const none = get("none", top), agent = get("agent", top), sidecar = get("sidecar", top);
  const summary: string[] = [];
  // CPU the lab did not use: other work on the machine, which skews every figure.
  const foreign = Math.max(...aggs.map((a) => a.busyCores - a.podsCores - a.agentCores - a.relayCores - a.softirqCores));
  const verdict = (ok: boolean) => (foreign > 0.2 ? "inconclusive: the machine was busy with other work" : ok ? "met" : "not met");
  if (none && agent) {
    const ratio = agent.latency.p99Ms / none.latency.p99Ms;
    summary.push(`agent p99 / none p99 at ${top} req/s: ${f(ratio, 3)} (${pct(ratio)}; target <= ${AGENT_P99_TARGET}: ${verdict(ratio <= AGENT_P99_TARGET)})`);
  }
  const hop = (c: Config) => (configs.includes(c) ? hopSummary(c) : undefined);
  const hopNone = hop("none"), hopAgent = hop("agent"), hopSidecar = hop("sidecar");
  if (hopNone && hopAgent) {
    summary.push(`one gRPC hop at ${run.options.hopRate} calls/s: agent p99 / none p99 = ${f(hopAgent.p99Ms / hopNone.p99Ms, 3)} (${pct(hopAgent.p99Ms / hopNone.p99Ms)})`);
  }
  if (hopNone && hopSidecar) {
    summary.push(`one gRPC hop through two sidecars adds p50 ${signed(hopSidecar.p50Ms - hopNone.p50Ms)} ms, p90 ${signed(hopSidecar.p90Ms - hopNone.p90Ms)} ms, p99 ${signed(hopSidecar.p99Ms - hopNone.p99Ms)} ms (Istio 1.20: +${ISTIO.addedP90Ms} ms p90, +${ISTIO.addedP99Ms} ms p99)`);
  }
  if (none && sidecar) {
    summary.push(`sidecar added latency at ${top} req/s: p50 ${signed(sidecar.latency.p50Ms - none.latency.p50Ms)} ms, p90 ${signed(sidecar.latency.p90Ms - none.latency.p90Ms)} ms, p99 ${signed(sidecar.latency.p99Ms - none.latency.p99Ms)} ms (end to end, several sidecar pairs per request)`);
    summary.push(`sidecar memory: ${f(sidecar.sidecarMemoryMb / pods, 1)} MB per sidecar (Istio: ~${ISTIO.sidecarMemoryMb} MB); sidecars use ${f(sidecar.sidecarCores, 3)} cores in total at ${top} req/s`);
  }

  if (foreign > 0.2) {
    summary.push(`warning: other processes on this machine used up to ${f(foreign)} of ${os.cpus().length} cores during the run; latency figures include that contention, rerun on an idle machine for clean numbers`);
  }
  const rows = (c: Config, r: number) => {
    const a = get(c, r);
    if (!a) return "";
    return `| ${r} | ${c} | ${f(a.latency.p50Ms)} | ${f(a.latency.p90Ms)} | ${f(a.latency.p99Ms)} | ${f(a.latency.maxMs)} | ${f(a.achievedRps, 1)} | ${a.errors} | ${a.latency.count} |`;
  };
  const cpuRows = (c: Config, r: number) => {
    const a = get(c, r);
    if (!a) return "";
    return `| ${r} | ${c} | ${f(a.podsCores, 3)} | ${run.plan.nodes.map((n) => f(a.nodeCores[n.name], 3)).join(" | ")} | ${f(a.agentCores, 3)} | ${f(a.relayCores, 3)} | ${f(a.sidecarCores, 3)} | ${f(a.softirqCores, 3)} | ${f(a.busyCores, 3)} |`;
  };
  const memRows = (c: Config, r: number) => {
    const a = get(c, r);
    if (!a) return "";
    return `| ${r} | ${c} | ${f(a.podsMemoryMb, 1)} | ${f(a.sidecarMemoryMb, 1)} | ${f(a.agentMemoryMb, 1)} | ${f(a.relayMemoryMb, 1)} |`;
  };
  const cpuModel = os.cpus()[0]?.model ?? "unknown CPU";
  const md = [
    `# Observability overhead on the lab replica: none vs eBPF agent vs sidecar`,
    ``,
    `Run ${run.startedAt} on ${os.cpus().length} x ${cpuModel}, Linux ${os.release()}, with \`flowlens bench\`.`,
    `Replica of Online Boutique's topology (${pods} pods on ${run.plan.nodes.length} nodes; not the real images), driven at fixed`,
    `rates by an open-model load generator (latency from each request's scheduled start, so queueing is not hidden).`,
    `Each phase: ${run.options.warmupS} s warm-up, ${run.options.measureS} s measured; ${run.options.rounds} round(s) per rate,`,
    `configuration order rotated each round. Samples are pooled over rounds. Every lab process ran at niceness`,
    `${run.options.nice} in all three configurations.`,
    ``,
    `- **none**: the replica alone.`,
    `- **agent**: a Flowlens agent per node (eBPF, observing that node's cgroup subtree) plus the relay pulling from both.`,
    `- **sidecar**: an HAProxy sidecar in every pod (TCP mode), all pod traffic redirected to it with nftables like Istio's`,
    `  iptables REDIRECT (outbound 15001, inbound 15006).`,
    ``,
    `## Summary`,
    ``,
    ...summary.map((s) => `- ${s}`),
    ``,
    `Istio's published figures for comparison: a sidecar costs about ${ISTIO.sidecarVcpuPer1000Rps} vCPU and ${ISTIO.sidecarMemoryMb} MB at 1000 req/s`,
    `(Istio 1.24, 1 KB payload); two sidecars add ${ISTIO.addedP90Ms} ms at p90 and ${ISTIO.addedP99Ms} ms at p99 (Istio 1.20); injected`,
    `requests are ${ISTIO.injectedRequests}. HAProxy in TCP mode does less per byte than Envoy's HTTP/2-aware proxying, so these`,
    `sidecar figures are a lower bound for what a full mesh costs.`,
    ``,
    `## Latency (ms)`,
    ``,
    `| req/s | config | p50 | p90 | p99 | max | achieved req/s | errors | samples |`,
    `|---|---|---|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => configs.map((c) => rows(c, r))),
    ``,
    ...rates.map((r) => `![latency at ${r} req/s](latency-${r}rps.svg)`),
    ``,
    `## One service-to-service hop (ms)`,
    ``,
    `After each phase's frontend load, the load generator calls currencyservice's Convert directly over gRPC at`,
    `${run.options.hopRate} calls/s for ${run.options.hopS} s (same open model), pooled over all phases of a configuration. With sidecars`,
    `the call crosses two (the caller's outbound and the callee's inbound), as in Istio's two-sidecar figures.`,
    ``,
    `| config | p50 | p90 | p99 | max | samples |`,
    `|---|---|---|---|---|---|`,
    ...configs.map((c) => { const h = hop(c); return h ? `| ${c} | ${f(h.p50Ms, 3)} | ${f(h.p90Ms, 3)} | ${f(h.p99Ms, 3)} | ${f(h.maxMs, 3)} | ${h.count} |` : ""; }),
    ``,
    `![one hop](hop.svg)`,
    ``,
    `## CPU (cores, mean over the measured window)`,
    ``,
    `Pods and nodes from cgroup v2 \`cpu.stat\` (a node is its pods plus its agent); sidecars from their processes'`,
    `\`/proc/<pid>/stat\` (already inside their pods' figures); softirq and busy are host-wide from \`/proc/stat\``,
    `(softirq is charged to no cgroup).`,
    ``,
    `| req/s | config | pods | ${run.plan.nodes.map((n) => n.name).join(" | ")} | agents | relay | sidecars | softirq | host busy |`,
    `|---|---|---|${run.plan.nodes.map(() => "---").join("|")}|---|---|---|---|---|`,
    ...rates.flatMap((r) => configs.map((c) => cpuRows(c, r))),
    ``,
    `![CPU](cpu.svg)`,
    ``,
    `## Memory (MB of PSS at the end of the measured window)`,
    ``,
    `| req/s | config | pods (incl. sidecars) | sidecars | agents | relay |`,
    `|---|---|---|---|---|---|`,
    ...rates.flatMap((r) => configs.map((c) => memRows(c, r))),
    ``,
    `![memory](memory.svg)`,
    ``,
    `## Per pod at ${top} req/s (cores / MB)`,
    ``,
    `| pod | ${configs.join(" | ")} |`,
    `|---|${configs.map(() => "---").join("|")}|`,
    ...run.plan.pods.map((p) => `| ${p.app} (${p.node.name}) | ${configs.map((c) => { const a = get(c, top); return a ? `${f(a.perPod[p.app].cores, 3)} / ${f(a.perPod[p.app].memoryMb, 1)}` : "n/a"; }).join(" | ")} |`),
    ``,
  ].join("\n");
  fs.writeFileSync(path.join(dir, "report.md"), md);
  const raw = run.phases.map(({ load, hop, ...rest }) => ({
    ...rest,
    load: { ...load, latenciesUs: undefined, summary: summarize(load.latenciesUs) },
    hop: { ...hop, latenciesUs: undefined, summary: summarize(hop.latenciesUs) },
  }));
  fs.writeFileSync(path.join(dir, "phases.json"), JSON.stringify(raw, null, 1));
  return { dir, markdown: path.join(dir, "report.md"), summary };
}
