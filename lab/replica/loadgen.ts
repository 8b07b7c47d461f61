// The load generator: an open-model client (requests start on a fixed
// schedule whether or not earlier ones finished, and latency is measured from
// the scheduled start, so a slow server cannot hide its queueing: no
// coordinated omission). The frontend request mix follows microservices-demo's
// locustfile task weights. For the benchmark it runs blocks on request, each
// optionally followed by a "hop" load that calls one gRPC service directly,
// to measure a single service-to-service hop; a block can drive two replica
// copies with paired requests (the same request to each at the same instant).
import * as fs from "node:fs";
import * as http from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { PRODUCTS } from "./catalog";
import { resetConnections } from "./connections";
import { client, type UnaryClient } from "./rpc";

export interface LoadOptions {
  frontend: string;
  rate: number;
  egressTargets: string[];
}

/** Where a block sends its load: one replica copy's frontend (and currencyservice, for the hop). */
export interface Target { frontend: string; currency?: string }

/**
 * One measured block of load, as the benchmark asks for it over the control
 * socket. With several targets every request is paired: at each scheduled
 * instant the same request goes to every target, so a stall of the machine
 * or of the load generator strikes all members of a pair alike.
 */
export interface BlockRequest {
  rate: number;
  /** Seconds of load, warm-up included. */
  duration: number;
  /** Leading seconds left out of the recorded results. */
  warmup: number;
  targets: Target[];
  /** After the frontend load: direct gRPC calls to each target's currencyservice, paired the same way. */
  hop?: { rate: number; duration: number; warmup: number };
}

export interface BlockResult { load: LoadResult; hop?: LoadResult }

/** One target's share of a block. Arrays are indexed by pair (scheduled instant after warm-up). */
export interface TargetResult {
  completed: number;
  errors: number;
  /** Latency in microseconds from the pair's scheduled start; -1 where the request failed. */
  latenciesUs: number[];
  /**
   * How late the load generator itself sent this target's request, in
   * microseconds after its scheduled start: its own share of the latency.
   */
  sendLagUs: number[];
}

export interface LoadResult {
  rate: number;
  durationS: number;
  /** Scheduled instants after warm-up (pairs, with several targets). */
  scheduled: number;
  /** Per target, in the order of the request's targets. */
  targets: TargetResult[];
  /** The load generator's event-loop delay over the block (ms), so its own stalls are told apart from the replica's. */
  loopDelayMs: { p50: number; p99: number; max: number };
}

/** The latencies of the requests that succeeded. */
export function okLatencies(t: TargetResult): number[] {
  return t.latenciesUs.filter((us) => us >= 0);
}

const TASKS: [number, () => { method: string; path: string; body?: string }][] = [
  [1, () => ({ method: "GET", path: "/" })],
  [2, () => ({ method: "POST", path: "/setCurrency", body: `currency_code=${pick(["EUR", "USD", "JPY", "CAD", "GBP", "TRY"])}` })],
  [10, () => ({ method: "GET", path: `/product/${pick(PRODUCTS).id}` })],
  [2, () => ({ method: "POST", path: "/cart", body: `product_id=${pick(PRODUCTS).id}&quantity=${pick([1, 2, 3, 4, 5, 10])}` })],
  [3, () => ({ method: "GET", path: "/cart" })],
  [1, () => ({ method: "POST", path: "/cart/checkout", body: "email=someone%40example.com" })],
];
const TOTAL_WEIGHT = TASKS.reduce((n, [w]) => n + w, 0);

// A seeded generator so every benchmark block replays the same sequence.
const SEED = 0x9e3779b9;
let seed = SEED;
function random(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}
function pick<T>(items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}
function nextTask() {
  let r = random() * TOTAL_WEIGHT;
  for (const [w, make] of TASKS) {
    if ((r -= w) < 0) return make();
  }
  return TASKS[0][1]();
}

type Send = (done: (ok: boolean) => void) => void;
/** Makes the sends of one scheduled instant: one per target, all of the same request. */
type SendPair = () => Send[];

/**
 * Runs `pair`'s sends `rate` times a second for `duration` seconds (forever if 0),
 * recording (when `record`) the latency of requests scheduled after `warmup`.
 * Within a pair the order of the sends alternates, so neither target is always second.
 */
async function openLoop(rate: number, duration: number, warmup: number, record: boolean, targets: number, pair: SendPair): Promise<LoadResult> {
  const result: LoadResult = {
    rate, durationS: duration - warmup, scheduled: 0, loopDelayMs: { p50: 0, p99: 0, max: 0 },
    targets: Array.from({ length: targets }, () => ({ completed: 0, errors: 0, latenciesUs: [], sendLagUs: [] })),
  };
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  const intervalMs = 1000 / rate;
  const start = performance.now();
  const recordFrom = start + warmup * 1000;
  const end = duration > 0 ? start + duration * 1000 : Infinity;
  let inflight = 0;
  const fire = (scheduledAt: number, n: number) => {
    const recorded = record && scheduledAt >= recordFrom;
    const slot = result.scheduled;
    if (recorded) {
      if (slot === 0) loopDelay.enable();
      result.scheduled++;
    }
    const sends = pair();
    const order = sends.map((_, i) => i);
    if (n % 2 === 1) order.reverse();
    for (const i of order) {
      const t = result.targets[i];
      if (recorded) t.sendLagUs[slot] = Math.round((performance.now() - scheduledAt) * 1000);
      inflight++;
      sends[i]((ok) => {
        inflight--;
        if (!recorded) return;
        t.latenciesUs[slot] = ok ? Math.round((performance.now() - scheduledAt) * 1000) : -1;
        if (ok) t.completed++;
        else t.errors++;
      });
    }
  };
  await new Promise<void>((resolve) => {
    let n = 0;
    const tick = () => {
      const now = performance.now();
      while (start + n * intervalMs <= now && start + n * intervalMs < end) {
        fire(start + n * intervalMs, n);
        n++;
      }
      if (start + n * intervalMs >= end) return resolve();
      setTimeout(tick, Math.max(0, start + n * intervalMs - performance.now()));
    };
    tick();
  });
  // Let the last requests finish (bounded), so the tail is measured rather than dropped.
  const drainUntil = performance.now() + 10_000;
  while (inflight > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  for (const t of result.targets) {
    for (let i = 0; i < result.scheduled; i++) {
      if (t.latenciesUs[i] === undefined) {
        t.latenciesUs[i] = -1;
        t.errors++;
      }
    }
  }
  loopDelay.disable();
  const ms = (ns: number) => Math.round(ns / 1000) / 1000;
  if (result.scheduled > 0) result.loopDelayMs = { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) };
  return result;
}

const USERS = Array.from({ length: 64 }, (_, i) => `user-${i}`);

interface PageRequest { method: string; path: string; body?: string; user: string }

/** The next request of the locustfile's mix, with the session it belongs to. */
function nextPage(): PageRequest {
  return { ...nextTask(), user: pick(USERS) };
}

/** Sends `page` to the frontend at `frontend` over keep-alive connections of `agent`. */
function pageSend(frontend: string, agent: http.Agent, page: PageRequest): Send {
  const [host, port] = frontend.split(":");
  return (done) => {
    const req = http.request(
      { host, port: Number(port), method: page.method, path: page.path, agent,
        headers: { cookie: `shop_session-id=${page.user}`, ...(page.body ? { "content-type": "application/x-www-form-urlencoded" } : {}) } },
      (res) => {
        res.resume();
        res.on("end", () => done((res.statusCode ?? 500) < 400));
      },
    );
    req.on("error", () => done(false));
    req.end(page.body);
  };
}

/** Steady lab traffic: records nothing, so it can run for days. */
export async function runLoad(opts: LoadOptions): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  if (opts.egressTargets.length > 0) setInterval(() => probeEgress(opts.egressTargets), 2000);
  await openLoop(opts.rate, 0, 0, false, 1, () => [pageSend(opts.frontend, agent, nextPage())]);
}

/**
 * Runs one block: the frontend load on new connections (one pool per
 * target), then the optional single-hop load. Every block replays the same
 * request sequence, and every target gets the same requests.
 */
async function runBlock(block: BlockRequest, currency: (address: string) => UnaryClient): Promise<BlockResult> {
  seed = SEED;
  const agents = block.targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 512 }));
  const load = await openLoop(block.rate, block.duration, block.warmup, true, block.targets.length, () => {
    const page = nextPage();
    return block.targets.map((t, i) => pageSend(t.frontend, agents[i], page));
  });
  for (const a of agents) a.destroy();
  if (!block.hop) return { load };
  const clients = block.targets.map((t) => currency(t.currency!));
  const request = { from: { currency_code: "USD", units: 19, nanos: 990000000 }, to_code: "EUR" };
  for (const c of clients) await c.GetSupportedCurrencies({}); // connect before the clock starts
  const hop = await openLoop(block.hop.rate, block.hop.duration, block.hop.warmup, true, clients.length, () =>
    clients.map((c): Send => (done) => void c.Convert(request).then(() => done(true), () => done(false))));
  return { load, hop };
}

/** The block in `body`, or what is wrong with it. */
function parseBlock(body: string): BlockRequest | string {
  let block: BlockRequest;
  try {
    block = JSON.parse(body) as BlockRequest;
  } catch (err) {
    return `the block is not JSON (${(err as Error).message})`;
  }
  const ok = (l: { rate: number; duration: number; warmup: number }) => l.rate > 0 && l.warmup >= 0 && l.duration > l.warmup;
  if (!ok(block) || (block.hop && !ok(block.hop))) return `block ${body} needs rate > 0 and duration > warmup >= 0 (for the hop too)`;
  if (!Array.isArray(block.targets) || block.targets.length === 0 || block.targets.some((t) => !/^[^:]+:\d+$/.test(t.frontend ?? ""))) {
    return `block ${body} needs targets: [{ "frontend": "host:port" }, ...], one per replica copy`;
  }
  if (block.hop && block.targets.some((t) => !/^[^:]+:\d+$/.test(t.currency ?? ""))) return `block ${body} has a hop, so every target needs "currency": "host:port"`;
  return block;
}

/**
 * The benchmark's load generator: stays up between blocks (so its code is warm)
 * and runs each block that is POSTed as JSON to /block on the Unix socket
 * `socketPath`, answering with the block's results.
 */
export async function serveBlocks(socketPath: string): Promise<http.Server> {
  // One gRPC client per currencyservice address, kept across blocks like the frontend's own clients.
  const currencyClients = new Map<string, UnaryClient>();
  const currency = (address: string) => {
    if (!currencyClients.has(address)) currencyClients.set(address, client("CurrencyService", address));
    return currencyClients.get(address)!;
  };
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      const fail = (status: number, message: string) => void res.writeHead(status, { "content-type": "text/plain" }).end(`loadgenerator: ${message}\n`);
      if (req.method !== "POST" || req.url !== "/block") return fail(404, `${req.method} ${req.url} is not served; POST a block to /block`);
      const block = parseBlock(body);
      if (typeof block === "string") return fail(400, block);
      resetConnections();
      runBlock(block, currency).then(
        (result) => void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result)),
        (err: Error) => fail(500, err.message),
      );
    });
  });
  fs.rmSync(socketPath, { force: true });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return server;
}

/** Requests to hosts outside the cluster, so egress NAT shows in the flows. */
function probeEgress(targets: string[]): void {
  for (const target of targets) {
    const req = http.get(`http://${target}/`, (res) => res.resume());
    req.setTimeout(1500, () => req.destroy());
    req.on("error", () => undefined);
  }
}
