// The comparison itself: two identical copies of the lab replica stay up side
// by side for the whole run (so their code is warm), and one load generator
// sends every request to both at the same instant. Each block puts one copy
// under a configuration (the eBPF agent per node with the relay, or an
// HAProxy sidecar in every pod) and leaves the other alone, or leaves both
// alone (the A/A control); the observed copy alternates A, B, B, A over
// cycles so any difference between the copies cancels. A stall of the shared
// machine strikes both members of a pair alike, so comparing the copies
// within blocks cancels most of the noise that comparing blocks cannot.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import * as control from "../../lab/control-plane";
import { createInfrastructure, down, startLoadGenerator, startReplica } from "../../lab/lab";
import { LabError } from "../../lab/errors";
import { copyCgroup, DEFAULT_OPTIONS, makePlan, podByApp, SHARED, type LabPlan } from "../../lab/plan";
import { waitFor } from "../../lab/processes";
import type { BlockRequest, BlockResult, LoadResult, Target } from "../../lab/replica/loadgen";
import { StateFile } from "../../lab/state";
import { coresBetween, cpuSecondsByCommand, pssByCommand, snapshot } from "./resources";
import { MIN_PAIRS_PER_BLOCK, pairDifferences, summarize } from "./stats";
import { ConfigurationSwitch, type Config } from "./switch";

export type { Config } from "./switch";
export const CONFIGS: Config[] = ["none", "agent", "sidecar"];

export interface BenchOptions {
  rates: number[];
  /** Cycles of blocks; each runs every arm once per rate. */
  cycles: number;
  /** Seconds after switching and re-connecting, before a block's load starts. */
  settleS: number;
  /** Seconds of load at the start of each block left out of the results. */
  warmupS: number;
  measureS: number;
  /** Seconds of unrecorded load on the fresh replica before the first block. */
  prewarmS: number;
  /** Configurations; "none" blocks are the A/A control. */
  configs: Config[];
  /** Direct gRPC calls per second from the load generator to currencyservice, after each block's frontend load. */
  hopRate: number;
  hopS: number;
  /** Niceness of every process in the comparison (all configurations alike). */
  nice: number;
  /**
   * A block counts only if the load generator sent 99% of its requests within this many ms of their
   * scheduled start: beyond it the machine could not keep the open model's schedule at all.
   */
  maxSendLagMs: number;
  log: (line: string) => void;
}

const HOP_WARMUP_S = 1;

export interface Block {
  cycle: number;
  rate: number;
  config: Config;
  /** Index of the copy under `config` (in a none block: the copy in the observed role of the A/A control). */
  observed: number;
}

/** The observed copy by cycle: A, B, B, A, so over every four cycles each copy is observed alike, early and late. */
export const OBSERVED_ORDER = [0, 1, 1, 0];

/**
 * The block order: per cycle and rate every configuration once, mirrored on
 * odd cycles (rates too), so over each pair of cycles every configuration has
 * the same mean position; the observed copy follows OBSERVED_ORDER.
 */
export function blockSchedule(configs: Config[], rates: number[], cycles: number): Block[] {
  const blocks: Block[] = [];
  for (let cycle = 0; cycle < cycles; cycle++) {
    const mirror = <T>(xs: T[]) => (cycle % 2 === 0 ? xs : [...xs].reverse());
    for (const rate of mirror(rates)) for (const config of mirror(configs)) blocks.push({ cycle, rate, config, observed: OBSERVED_ORDER[cycle % OBSERVED_ORDER.length] });
  }
  return blocks;
}

export interface BlockRun extends Block {
  /** Whether the load generator kept its schedule (send lag p99 within maxSendLagMs); only valid blocks enter the statistics. */
  valid: boolean;
  /** Seconds from the switch until the lab's processes were idle and the load started. */
  settledS: number;
  /** /proc/loadavg's 1-minute figure when the block started. */
  loadAvg1: number;
  /** Paired frontend load; `targets[i]` is copy i. */
  load: LoadResult;
  /** One service-to-service hop per copy, paired: loadgenerator -> currencyservice Convert. */
  hop?: LoadResult;
  cores: ReturnType<typeof coresBetween>;
  /** Cores used by each pod's sidecar (haproxy) during the measurement, by pod name. */
  sidecarCores: Record<string, number>;
  /** MB of PSS per pod (by pod name), per command name in the pod (the app, "haproxy"). */
  podMemoryMb: Record<string, Record<string, number>>;
  /** MB of PSS of each node's agent and of the relay (agent configuration only). */
  agentMemoryMb: Record<string, number>;
  relayMemoryMb: number;
  /** BPF links the agents held during the block, by type (agent configuration only). */
  agentLinks: Record<string, number>;
  /** Kernel records the agents received during the block (agent configuration only). */
  agentKernelEvents: number;
}

export interface BenchRun {
  plan: LabPlan;
  configs: Config[];
  blocks: BlockRun[];
  startedAt: string;
  loadAvgStart: string;
  loadAvgEnd: string;
  options: Omit<BenchOptions, "log">;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const loadAvg = () => fs.readFileSync("/proc/loadavg", "utf8").trim();

const QUIET_CORES = 0.05;
const QUIET_WINDOW_MS = 500;
const QUIET_MAX_S = 30;

/**
 * Waits (bounded) until `cgroups` together use under QUIET_CORES, so a block
 * measures steady state rather than a freshly started agent's initialisation;
 * returns the seconds waited.
 */
async function untilQuiet(cgroups: string[]): Promise<number> {
  const start = performance.now();
  for (;;) {
    const a = snapshot(cgroups);
    await sleep(QUIET_WINDOW_MS);
    const used = sum(Object.values(coresBetween(a, snapshot(cgroups)).cgroups));
    const waited = (performance.now() - start) / 1000;
    if (used < QUIET_CORES || waited > QUIET_MAX_S) return waited;
  }
}

/** Runs one block on the load generator's control socket and returns its results. */
function runOnLoadGenerator(socketPath: string, block: BlockRequest, timeoutMs: number): Promise<BlockResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: "POST", path: "/block", headers: { "content-type": "application/json" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(body) as BlockResult) : reject(new LabError(`load generator: ${body.trim()}`))));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new LabError(`the load generator did not finish a block within ${timeoutMs / 1000} s`)));
    req.on("error", reject);
    req.end(JSON.stringify(block));
  });
}

/** Each copy's frontend and currencyservice Service addresses, in copy order. */
function targets(plan: LabPlan): Target[] {
  const address = (app: string, copy: string) => {
    const { service } = podByApp(plan, app, copy);
    return `${service!.clusterIp}:${service!.port}`;
  };
  return plan.copies.map((copy) => ({ frontend: address("frontend", copy), currency: address("currencyservice", copy) }));
}

/** Every cgroup whose CPU a block reads: pods, each copy's group per node, the shared group, nodes, agents and relay. */
function measuredCgroups(plan: LabPlan, sw: ConfigurationSwitch, config: Config): string[] {
  const agents = config === "agent" ? [...plan.nodes.map((n) => sw.agentCgroup(n.name)), sw.relayCgroup] : [];
  const groups = plan.nodes.flatMap((n) => [n.cgroup, ...plan.copies.map((c) => copyCgroup(n, c)), path.join(n.cgroup, SHARED)]).filter((g) => fs.existsSync(g));
  return [...plan.pods.map((p) => p.cgroup), ...groups, ...agents];
}

class BlockRunner {
  readonly socket: string;
  private readonly targets: Target[];

  constructor(private readonly plan: LabPlan, private readonly sw: ConfigurationSwitch, private readonly o: BenchOptions) {
    this.socket = path.join(plan.dir, "results", "loadgenerator.sock");
    this.targets = targets(plan);
  }

  request(rate: number, measureS: number): BlockRequest {
    const o = this.o;
    return {
      rate, duration: o.warmupS + measureS, warmup: o.warmupS, targets: this.targets,
      hop: o.hopS > 0 ? { rate: o.hopRate, duration: HOP_WARMUP_S + o.hopS, warmup: HOP_WARMUP_S } : undefined,
    };
  }

  timeoutMs(request: BlockRequest): number {
    return (request.duration + (request.hop?.duration ?? 0) + 30) * 1000;
  }

  async run(block: Block): Promise<BlockRun> {
    const { plan, sw, o } = this;
    const { config } = block;
    const attached = await sw.apply(config, plan.copies[block.observed]);
    const cgroups = measuredCgroups(plan, sw, config);
    await sleep(o.settleS * 1000);
    const settledS = o.settleS + (await untilQuiet(cgroups));
    const loadAvg1 = Number(loadAvg().split(" ")[0]);
    const eventsBefore = config === "agent" ? sum(await sw.kernelEvents()) : 0;
    const request = this.request(block.rate, o.measureS);
    const result = runOnLoadGenerator(this.socket, request, this.timeoutMs(request));
    await sleep(o.warmupS * 1000);
    const proxyBefore = Object.fromEntries(plan.pods.map((p) => [p.name, cpuSecondsByCommand(p.cgroup).haproxy ?? 0]));
    const before = snapshot(cgroups);
    await sleep(o.measureS * 1000);
    const after = snapshot(cgroups);
    const seconds = (after.atMs - before.atMs) / 1000;
    const sidecarCores = Object.fromEntries(plan.pods.map((p) => [p.name, ((cpuSecondsByCommand(p.cgroup).haproxy ?? 0) - proxyBefore[p.name]) / seconds]));
    const { load, hop } = await result;
    // Read after the load, so reading every process's page tables does not disturb it.
    const podMemoryMb: Record<string, Record<string, number>> = {};
    for (const p of plan.pods) podMemoryMb[p.name] = pssByCommand(p.cgroup);
    const agentMemoryMb: Record<string, number> = {};
    for (const n of plan.nodes) if (config === "agent") agentMemoryMb[n.name] = sum(Object.values(pssByCommand(sw.agentCgroup(n.name))));
    const relayMemoryMb = config === "agent" ? sum(Object.values(pssByCommand(sw.relayCgroup))) : 0;
    const agentKernelEvents = config === "agent" ? sum(await sw.kernelEvents()) - eventsBefore : 0;
    const valid = summarize(load.targets.flatMap((t) => t.sendLagUs)).p99Ms <= o.maxSendLagMs;
    return { ...block, valid, settledS, loadAvg1, load, hop, cores: coresBetween(before, after), sidecarCores, podMemoryMb, agentMemoryMb, relayMemoryMb, agentLinks: attached.byType, agentKernelEvents };
  }
}

/** One line of progress for a finished block: both copies' percentiles and the paired difference. */
function blockLine(r: BlockRun, plan: LabPlan): string {
  const [obs, other] = [r.load.targets[r.observed], r.load.targets[1 - r.observed]];
  const s = (t: typeof obs) => summarize(t.latenciesUs.filter((us) => us >= 0));
  const diff = summarize(pairDifferences({ stratum: r.observed, observed: obs.latenciesUs, unobserved: other.latenciesUs }));
  const name = r.config === "none" ? `none (A/A, ${plan.copies[r.observed]} in the observed role)` : `${r.config} on copy ${plan.copies[r.observed]}`;
  return `${r.valid ? "" : "EXCLUDED (load generator behind schedule) "}${r.rate} req/s, ${name}: ${obs.completed}+${other.completed}/${2 * r.load.scheduled} ok, ` +
    `p99 ${s(obs).p99Ms.toFixed(1)} vs ${s(other).p99Ms.toFixed(1)} ms, paired difference p50 ${diff.p50Ms.toFixed(2)} p99 ${diff.p99Ms.toFixed(1)} ms, ` +
    `settled ${r.settledS.toFixed(1)} s, busy ${r.cores.busy.toFixed(2)} cores (steal ${r.cores.steal.toFixed(2)}), load ${r.loadAvg1}, ` +
    `load generator lag p99 ${summarize(obs.sendLagUs).p99Ms.toFixed(1)} ms, loop delay max ${r.load.loopDelayMs.max.toFixed(0)} ms` +
    (r.config === "agent" ? `; ${sum(Object.values(r.agentLinks))} BPF links, ${r.agentKernelEvents} kernel records` : "");
}

/**
 * Refuses options that would give a block fewer pairs than its own p99 needs
 * (the primary estimator is built from every block's p99), before anything is
 * built.
 */
export function checkPairsPerBlock(o: Pick<BenchOptions, "rates" | "measureS" | "hopRate" | "hopS">): void {
  const why = `each block's own p99 is the basis of the p99 ratio and needs at least ${MIN_PAIRS_PER_BLOCK} paired requests, so that it is not just the block's slowest few`;
  for (const rate of o.rates) {
    if (rate * o.measureS < MIN_PAIRS_PER_BLOCK) {
      throw new LabError(`--rates ${rate} with --measure ${o.measureS} gives ${Math.floor(rate * o.measureS)} pairs per block: ${why}; raise --measure to at least ${Math.ceil(MIN_PAIRS_PER_BLOCK / rate)} s or the rate`);
    }
  }
  if (o.hopS > 0 && o.hopRate * o.hopS < MIN_PAIRS_PER_BLOCK) {
    throw new LabError(`--hop-rate ${o.hopRate} with --hop ${o.hopS} gives ${Math.floor(o.hopRate * o.hopS)} single-hop pairs per block: ${why}; raise --hop to at least ${Math.ceil(MIN_PAIRS_PER_BLOCK / o.hopRate)} s, the hop rate, or use --hop 0`);
  }
}

export async function runBench(o: BenchOptions): Promise<BenchRun> {
  checkPairsPerBlock(o);
  const loopback = `127.${100 + (randomBytes(1)[0] % 100)}.${randomBytes(1)[0]}`;
  const plan = makePlan({
    ...DEFAULT_OPTIONS,
    name: `fl-bench-${randomBytes(3).toString("hex")}`,
    agentLoopback: loopback,
    relayAddress: `${loopback}.10:4245`,
    uiAddress: `${loopback}.10:12000`,
    replicaOnly: true,
    copies: 2,
    nice: o.nice,
  });
  const state = StateFile.create(plan.stateFile, plan.options.name, plan.dir, false);
  const blocks: BlockRun[] = [];
  const startedAt = new Date().toISOString();
  const loadAvgStart = loadAvg();
  try {
    createInfrastructure(plan, state, (step) => o.log(`setup: ${step}`));
    const resultsDir = path.join(plan.dir, "results");
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.chownSync(resultsDir, 65534, 65534);
    const available = control.availableComponents();
    const certs = available.includes("agent") && available.includes("relay") ? await control.makeCertificates(plan) : undefined;
    const sw = new ConfigurationSwitch(plan, state, certs);
    const runner = new BlockRunner(plan, sw, o);
    o.log(`setup: starting replica copies ${plan.copies.join(" and ")} and their shared load generator`);
    await startReplica(plan, state, { rate: o.rates[0] }, () => undefined, false);
    startLoadGenerator(plan, state, { rate: o.rates[0], control: runner.socket });
    await waitFor("load generator control socket", () => fs.existsSync(runner.socket), 30_000, path.join(plan.dir, "logs", `${podByApp(plan, "loadgenerator").name}.log`));
    o.log(`warming both copies up: ${o.prewarmS} s at ${Math.max(...o.rates)} req/s each, not recorded`);
    const prewarm = runner.request(Math.max(...o.rates), o.prewarmS);
    await runOnLoadGenerator(runner.socket, prewarm, runner.timeoutMs(prewarm));
    const schedule = blockSchedule(o.configs, o.rates, o.cycles);
    for (const [i, block] of schedule.entries()) {
      const r = await runner.run(block);
      o.log(`[${i + 1}/${schedule.length}] cycle ${block.cycle + 1}, ${blockLine(r, plan)}`);
      blocks.push(r);
    }
    await sw.apply("none", plan.copies[0]);
  } finally {
    await down(plan.options.name, () => undefined);
  }
  const { log: _log, ...rest } = o;
  return { plan, configs: o.configs, blocks, startedAt, loadAvgStart, loadAvgEnd: loadAvg(), options: rest };
}
