// The comparison itself: one lab replica that stays up for the whole run (so
// its code is warm), switched between configurations (no observability, the
// eBPF agent per node with the relay, an HAProxy sidecar in every pod) in many
// short blocks. Each cycle runs every arm once, in mirrored order on odd
// cycles (ABBA), so drift on the shared machine cancels between arms; a second
// "none" arm is the A/A control that shows the instrument's noise floor.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import * as control from "../../lab/control-plane";
import { createInfrastructure, down, startLoadGenerator, startReplica } from "../../lab/lab";
import { LabError } from "../../lab/errors";
import { DEFAULT_OPTIONS, makePlan, podByApp, type LabPlan } from "../../lab/plan";
import { waitFor } from "../../lab/processes";
import type { BlockRequest, BlockResult, LoadResult } from "../../lab/replica/loadgen";
import { StateFile } from "../../lab/state";
import { coresBetween, cpuSecondsByCommand, pssByCommand, snapshot } from "./resources";
import { summarize } from "./stats";
import { ConfigurationSwitch, type Config } from "./switch";

export type { Config } from "./switch";
export const CONFIGS: Config[] = ["none", "agent", "sidecar"];

/** An arm of the comparison: a configuration, or the A/A control (a second, independent "none"). */
export type Arm = Config | "none-aa";
export const configOf = (arm: Arm): Config => (arm === "none-aa" ? "none" : arm);

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
  configs: Config[];
  /** Direct gRPC calls per second from the load generator to currencyservice, after each block's frontend load. */
  hopRate: number;
  hopS: number;
  /** Niceness of every process in the comparison (all configurations alike). */
  nice: number;
  log: (line: string) => void;
}

const HOP_WARMUP_S = 1;

export interface Block {
  cycle: number;
  rate: number;
  arm: Arm;
}

/**
 * The block order: per cycle and rate every arm once, mirrored on odd cycles
 * (rates too), so over each pair of cycles every arm has the same mean position.
 */
export function blockSchedule(arms: Arm[], rates: number[], cycles: number): Block[] {
  const blocks: Block[] = [];
  for (let cycle = 0; cycle < cycles; cycle++) {
    const mirror = <T>(xs: T[]) => (cycle % 2 === 0 ? xs : [...xs].reverse());
    for (const rate of mirror(rates)) for (const arm of mirror(arms)) blocks.push({ cycle, rate, arm });
  }
  return blocks;
}

export interface BlockRun extends Block {
  config: Config;
  /** Seconds from the switch until the lab's processes were idle and the load started. */
  settledS: number;
  /** /proc/loadavg's 1-minute figure when the block started. */
  loadAvg1: number;
  load: LoadResult;
  /** One service-to-service hop: loadgenerator -> currencyservice Convert. */
  hop?: LoadResult;
  cores: ReturnType<typeof coresBetween>;
  /** Cores used by each pod's sidecar (haproxy) during the measurement. */
  sidecarCores: Record<string, number>;
  /** MB of PSS per pod, per command name in the pod (the app, "haproxy"). */
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
  arms: Arm[];
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

class BlockRunner {
  readonly socket: string;

  constructor(private readonly plan: LabPlan, private readonly sw: ConfigurationSwitch, private readonly o: BenchOptions) {
    this.socket = path.join(plan.dir, "results", "loadgenerator.sock");
  }

  request(rate: number, measureS: number): BlockRequest {
    const o = this.o;
    return {
      rate, duration: o.warmupS + measureS, warmup: o.warmupS,
      hop: o.hopS > 0 ? { rate: o.hopRate, duration: HOP_WARMUP_S + o.hopS, warmup: HOP_WARMUP_S } : undefined,
    };
  }

  timeoutMs(request: BlockRequest): number {
    return (request.duration + (request.hop?.duration ?? 0) + 30) * 1000;
  }

  async run(block: Block): Promise<BlockRun> {
    const { plan, sw, o } = this;
    const config = configOf(block.arm);
    const attached = await sw.apply(config);
    const agentCgroups = config === "agent" ? [...plan.nodes.map((n) => sw.agentCgroup(n.name)), sw.relayCgroup] : [];
    const cgroups = [...plan.pods.map((p) => p.cgroup), ...plan.nodes.map((n) => n.cgroup), ...agentCgroups];
    await sleep(o.settleS * 1000);
    const settledS = o.settleS + (await untilQuiet(cgroups));
    const loadAvg1 = Number(loadAvg().split(" ")[0]);
    const eventsBefore = config === "agent" ? sum(await sw.kernelEvents()) : 0;
    const request = this.request(block.rate, o.measureS);
    const result = runOnLoadGenerator(this.socket, request, this.timeoutMs(request));
    await sleep(o.warmupS * 1000);
    const proxyBefore = Object.fromEntries(plan.pods.map((p) => [p.app, cpuSecondsByCommand(p.cgroup).haproxy ?? 0]));
    const before = snapshot(cgroups);
    await sleep(o.measureS * 1000);
    const after = snapshot(cgroups);
    const seconds = (after.atMs - before.atMs) / 1000;
    const sidecarCores = Object.fromEntries(plan.pods.map((p) => [p.app, ((cpuSecondsByCommand(p.cgroup).haproxy ?? 0) - proxyBefore[p.app]) / seconds]));
    const { load, hop } = await result;
    // Read after the load, so reading every process's page tables does not disturb it.
    const podMemoryMb: Record<string, Record<string, number>> = {};
    for (const p of plan.pods) podMemoryMb[p.app] = pssByCommand(p.cgroup);
    const agentMemoryMb: Record<string, number> = {};
    for (const n of plan.nodes) if (config === "agent") agentMemoryMb[n.name] = sum(Object.values(pssByCommand(sw.agentCgroup(n.name))));
    const relayMemoryMb = config === "agent" ? sum(Object.values(pssByCommand(sw.relayCgroup))) : 0;
    const agentKernelEvents = config === "agent" ? sum(await sw.kernelEvents()) - eventsBefore : 0;
    return { ...block, config, settledS, loadAvg1, load, hop, cores: coresBetween(before, after), sidecarCores, podMemoryMb, agentMemoryMb, relayMemoryMb, agentLinks: attached.byType, agentKernelEvents };
  }
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
  const arms: Arm[] = o.configs.includes("none") ? [...o.configs, "none-aa"] : [...o.configs];
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
    o.log("setup: starting the replica and its load generator");
    await startReplica(plan, state, { rate: o.rates[0] }, () => undefined, false);
    startLoadGenerator(plan, state, { rate: o.rates[0], control: runner.socket });
    await waitFor("load generator control socket", () => fs.existsSync(runner.socket), 30_000, path.join(plan.dir, "logs", `${podByApp(plan, "loadgenerator").name}.log`));
    o.log(`warming the replica up: ${o.prewarmS} s at ${Math.max(...o.rates)} req/s, not recorded`);
    const prewarm = runner.request(Math.max(...o.rates), o.prewarmS);
    await runOnLoadGenerator(runner.socket, prewarm, runner.timeoutMs(prewarm));
    const schedule = blockSchedule(arms, o.rates, o.cycles);
    for (const [i, block] of schedule.entries()) {
      const r = await runner.run(block);
      const s = summarize(r.load.latenciesUs);
      o.log(`[${i + 1}/${schedule.length}] cycle ${block.cycle + 1}, ${block.rate} req/s, ${block.arm}: ${r.load.completed}/${r.load.scheduled} ok, ` +
        `p50 ${s.p50Ms.toFixed(1)} p99 ${s.p99Ms.toFixed(1)} ms, settled ${r.settledS.toFixed(1)} s, busy ${r.cores.busy.toFixed(2)} cores (steal ${r.cores.steal.toFixed(2)}), load ${r.loadAvg1}` +
        `, load generator lag p99 ${summarize(r.load.sendLagUs).p99Ms.toFixed(1)} ms, loop delay max ${r.load.loopDelayMs.max.toFixed(0)} ms` +
        (r.hop ? `; hop p50 ${summarize(r.hop.latenciesUs).p50Ms.toFixed(2)} p99 ${summarize(r.hop.latenciesUs).p99Ms.toFixed(2)} ms` : "") +
        (block.arm === "agent" ? `; ${sum(Object.values(r.agentLinks))} BPF links, ${r.agentKernelEvents} kernel records` : ""));
      blocks.push(r);
    }
    await sw.apply("none");
  } finally {
    await down(plan.options.name, () => undefined);
  }
  const { log: _log, ...rest } = o;
  return { plan, arms, blocks, startedAt, loadAvgStart, loadAvgEnd: loadAvg(), options: rest };
}
