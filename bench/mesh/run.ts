// The comparison itself: one lab replica, three configurations (no
// observability, the eBPF agent per node with the relay, an HAProxy sidecar
// in every pod), each driven at fixed request rates by the open-model load
// generator. Configurations alternate within the run (their order rotates each
// round) so drift on the shared machine spreads evenly over all three.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { killCgroupTree } from "../../lab/cgroups";
import * as control from "../../lab/control-plane";
import { createInfrastructure, down, startLoadGenerator, startReplica } from "../../lab/lab";
import { waitFor } from "../../lab/processes";
import { podRuleset, replacePodTable } from "../../lab/nftables";
import { DEFAULT_OPTIONS, makePlan, type LabPlan } from "../../lab/plan";
import { StateFile } from "../../lab/state";
import type { LoadResult } from "../../lab/replica/loadgen";
import { coresBetween, cpuSecondsByCommand, pssByCommand, snapshot } from "./resources";
import { LabError } from "../../lab/errors";

export type Config = "none" | "agent" | "sidecar";
export const CONFIGS: Config[] = ["none", "agent", "sidecar"];

export interface BenchOptions {
  rates: number[];
  rounds: number;
  warmupS: number;
  measureS: number;
  configs: Config[];
  /** Direct gRPC calls per second from the load generator to currencyservice, after the frontend load. */
  hopRate: number;
  hopS: number;
  /** Niceness of every process in the comparison (all configurations alike). */
  nice: number;
  log: (line: string) => void;
}

const HOP_WARMUP_S = 1;

export interface PhaseResult {
  config: Config;
  rate: number;
  round: number;
  load: LoadResult;
  /** One service-to-service hop: loadgenerator -> currencyservice Convert. */
  hop: LoadResult;
  cores: ReturnType<typeof coresBetween>;
  /** Cores used by each pod's sidecar (haproxy) during the measurement. */
  sidecarCores: Record<string, number>;
  /** MB of PSS per pod, per command name in the pod (the app, "haproxy"). */
  podMemoryMb: Record<string, Record<string, number>>;
  /** MB of PSS of each node's agent and of the relay (agent configuration only). */
  agentMemoryMb: Record<string, number>;
  relayMemoryMb: number;
}

export interface BenchRun { plan: LabPlan; phases: PhaseResult[]; startedAt: string; options: Omit<BenchOptions, "log"> }

const SETTLE_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sumValues(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}

async function readResult(file: string, timeoutMs: number, plan: LabPlan): Promise<LoadResult> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file) && Date.now() < deadline) await sleep(100);
  if (!fs.existsSync(file)) throw new LabError(`the load generator wrote no results to ${file}; see ${path.join(plan.dir, "logs")}`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as LoadResult;
}

async function runPhase(plan: LabPlan, state: StateFile, certs: control.Certificates | undefined, config: Config, rate: number, round: number, o: BenchOptions): Promise<PhaseResult> {
  const sidecars = config === "sidecar";
  const phasePlan: LabPlan = { ...plan, options: { ...plan.options, sidecars } };
  for (const pod of plan.pods) replacePodTable(pod.netns, podRuleset(plan, pod, sidecars));
  if (config === "agent") {
    if (!certs) throw new LabError("the agent configuration needs the agent and relay, which are not in this checkout");
    const pids = plan.nodes.map((node) => control.startAgent(plan, state, node, certs));
    await control.waitForAgents(plan, pids);
    const relay = control.startRelay(plan, state, certs);
    await waitFor("relay", () => control.accepting(plan.options.relayAddress), 60_000, path.join(plan.dir, "logs", "relay.log"), relay);
  }
  const resultsDir = path.join(plan.dir, "results");
  const out = path.join(resultsDir, `${config}-${rate}-${round}.json`);
  const hopOut = path.join(resultsDir, `${config}-${rate}-${round}-hop.json`);
  const load = { rate, duration: o.warmupS + o.measureS, warmup: o.warmupS, out,
    hop: { rate: o.hopRate, duration: HOP_WARMUP_S + o.hopS, warmup: HOP_WARMUP_S, out: hopOut } };
  await startReplica(phasePlan, state, load, () => undefined, false);
  // Let a dozen freshly started processes finish starting before the clock runs.
  await sleep(SETTLE_MS);
  startLoadGenerator(phasePlan, state, load);
  const cgroups = [...plan.pods.map((p) => p.cgroup), ...plan.nodes.map((n) => n.cgroup),
    ...(config === "agent" ? [...plan.nodes.map((n) => path.join(plan.systemCgroup, `agent-${n.name}`)), path.join(plan.systemCgroup, "relay")] : [])];
  await sleep(o.warmupS * 1000);
  const proxyBefore = Object.fromEntries(plan.pods.map((p) => [p.app, cpuSecondsByCommand(p.cgroup).haproxy ?? 0]));
  const before = snapshot(cgroups);
  await sleep(o.measureS * 1000);
  const after = snapshot(cgroups);
  const seconds = (after.atMs - before.atMs) / 1000;
  const sidecarCores = Object.fromEntries(plan.pods.map((p) => [p.app, ((cpuSecondsByCommand(p.cgroup).haproxy ?? 0) - proxyBefore[p.app]) / seconds]));
  const podMemoryMb: Record<string, Record<string, number>> = {};
  for (const p of plan.pods) podMemoryMb[p.app] = pssByCommand(p.cgroup);
  const agentMemoryMb: Record<string, number> = {};
  let relayMemoryMb = 0;
  if (config === "agent") {
    for (const n of plan.nodes) agentMemoryMb[n.name] = sumValues(pssByCommand(path.join(plan.systemCgroup, `agent-${n.name}`)));
    relayMemoryMb = sumValues(pssByCommand(path.join(plan.systemCgroup, "relay")));
  }
  const result = await readResult(out, 20_000, plan);
  const hop = await readResult(hopOut, (HOP_WARMUP_S + o.hopS + 20) * 1000, plan);
  for (const node of plan.nodes) await killCgroupTree(node.cgroup);
  await killCgroupTree(plan.systemCgroup);
  return { config, rate, round, load: result, hop, cores: coresBetween(before, after), sidecarCores, podMemoryMb, agentMemoryMb, relayMemoryMb };
}

export async function runBench(o: BenchOptions): Promise<BenchRun> {
  const loopback = `127.${100 + (randomBytes(1)[0] % 100)}.${randomBytes(1)[0]}`;
  const plan = makePlan({
    ...DEFAULT_OPTIONS,
    name: `fl-bench-${randomBytes(3).toString("hex")}`,
    agentLoopback: loopback,
    relayAddress: `${loopback}.10:4245`,
    uiAddress: `${loopback}.10:12000`,
    replicaOnly: true,
    nice: o.nice,
  });
  const state = StateFile.create(plan.stateFile, plan.options.name, plan.dir, false);
  const phases: PhaseResult[] = [];
  const startedAt = new Date().toISOString();
  try {
    createInfrastructure(plan, state, (step) => o.log(`setup: ${step}`));
    const resultsDir = path.join(plan.dir, "results");
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.chownSync(resultsDir, 65534, 65534);
    const available = control.availableComponents();
    const certs = available.includes("agent") && available.includes("relay") ? await control.makeCertificates(plan) : undefined;
    const total = o.rates.length * o.rounds * o.configs.length;
    let rotation = 0;
    for (const rate of o.rates) {
      for (let round = 0; round < o.rounds; round++, rotation++) {
        const order = o.configs.map((_, i) => o.configs[(i + rotation) % o.configs.length]);
        for (const config of order) {
          o.log(`[${phases.length + 1}/${total}] ${rate} req/s, round ${round + 1}: ${config}`);
          const r = await runPhase(plan, state, certs, config, rate, round, o);
          const sorted = [...r.load.latenciesUs].sort((a, b) => a - b);
          const p99 = sorted.length ? sorted[Math.ceil(0.99 * sorted.length) - 1] / 1000 : NaN;
          o.log(`    ${r.load.completed}/${r.load.scheduled} ok, ${r.load.errors} errors, p99 ${p99.toFixed(2)} ms, busy ${r.cores.busy.toFixed(2)} cores; hop ${r.hop.completed}/${r.hop.scheduled} ok`);
          phases.push(r);
        }
      }
    }
  } finally {
    await down(plan.options.name, () => undefined);
  }
  const { log: _log, ...rest } = o;
  return { plan, phases, startedAt, options: rest };
}
