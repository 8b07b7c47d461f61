// The load generator: an open-model client (requests start on a fixed
// schedule whether or not earlier ones finished, and latency is measured from
// the scheduled start, so a slow server cannot hide its queueing: no
// coordinated omission). The frontend request mix follows microservices-demo's
// locustfile task weights; the optional "hop" load calls one gRPC service
// directly, to measure a single service-to-service hop.
import * as fs from "node:fs";
import * as http from "node:http";
import { PRODUCTS } from "./catalog";
import { client } from "./rpc";

export interface LoadOptions {
  frontend: string;
  rate: number;
  /** Seconds to run; 0 runs until the process is stopped. */
  duration: number;
  /** Leading seconds left out of the recorded results. */
  warmup: number;
  out?: string;
  egressTargets: string[];
  /** After the frontend load: direct gRPC calls to currencyservice at this address. */
  hop?: { address: string; rate: number; duration: number; warmup: number; out: string };
}

export interface LoadResult {
  rate: number;
  durationS: number;
  scheduled: number;
  completed: number;
  errors: number;
  /** Latencies in microseconds of the requests scheduled after warm-up. */
  latenciesUs: number[];
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

// A seeded generator so every configuration of a benchmark replays the same sequence.
let seed = 0x9e3779b9;
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

/**
 * Calls `send` `rate` times a second for `duration` seconds (forever if 0),
 * recording (when `record`) the latency of requests scheduled after `warmup`.
 */
async function openLoop(rate: number, duration: number, warmup: number, record: boolean, send: Send): Promise<LoadResult> {
  const result: LoadResult = { rate, durationS: duration - warmup, scheduled: 0, completed: 0, errors: 0, latenciesUs: [] };
  const intervalMs = 1000 / rate;
  const start = performance.now();
  const recordFrom = start + warmup * 1000;
  const end = duration > 0 ? start + duration * 1000 : Infinity;
  let inflight = 0;
  const fire = (scheduledAt: number) => {
    const recorded = record && scheduledAt >= recordFrom;
    if (recorded) result.scheduled++;
    inflight++;
    send((ok) => {
      inflight--;
      if (!recorded) return;
      if (!ok) result.errors++;
      else {
        result.completed++;
        result.latenciesUs.push(Math.round((performance.now() - scheduledAt) * 1000));
      }
    });
  };
  await new Promise<void>((resolve) => {
    let n = 0;
    const tick = () => {
      const now = performance.now();
      while (start + n * intervalMs <= now && start + n * intervalMs < end) fire(start + n++ * intervalMs);
      if (start + n * intervalMs >= end) return resolve();
      setTimeout(tick, Math.max(0, start + n * intervalMs - performance.now()));
    };
    tick();
  });
  // Let the last requests finish (bounded), so the tail is measured rather than dropped.
  const drainUntil = performance.now() + 10_000;
  while (inflight > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  result.errors += inflight;
  return result;
}

function writeResult(file: string, result: LoadResult): void {
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(result));
  fs.renameSync(`${file}.tmp`, file);
}

export async function runLoad(opts: LoadOptions): Promise<void> {
  const [host, port] = opts.frontend.split(":");
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const users = Array.from({ length: 64 }, (_, i) => `user-${i}`);
  const sendPage: Send = (done) => {
    const task = nextTask();
    const req = http.request(
      { host, port: Number(port), method: task.method, path: task.path, agent,
        headers: { cookie: `shop_session-id=${pick(users)}`, ...(task.body ? { "content-type": "application/x-www-form-urlencoded" } : {}) } },
      (res) => {
        res.resume();
        res.on("end", () => done((res.statusCode ?? 500) < 400));
      },
    );
    req.on("error", () => done(false));
    req.end(task.body);
  };
  const probes = opts.egressTargets.length > 0 ? setInterval(() => probeEgress(opts.egressTargets), 2000) : undefined;
  // Steady lab traffic (no output file) records nothing, so it can run for days.
  const pages = await openLoop(opts.rate, opts.duration, opts.warmup, opts.out !== undefined, sendPage);
  if (probes) clearInterval(probes);
  agent.destroy();
  if (opts.out) writeResult(opts.out, pages);
  if (opts.hop) {
    const currency = client("CurrencyService", opts.hop.address);
    const request = { from: { currency_code: "USD", units: 19, nanos: 990000000 }, to_code: "EUR" };
    const sendCall: Send = (done) => void currency.Convert(request).then(() => done(true), () => done(false));
    await currency.GetSupportedCurrencies({}); // connect before the clock starts
    writeResult(opts.hop.out, await openLoop(opts.hop.rate, opts.hop.duration, opts.hop.warmup, true, sendCall));
  }
}

/** Requests to hosts outside the cluster, so egress NAT shows in the flows. */
function probeEgress(targets: string[]): void {
  for (const target of targets) {
    const req = http.get(`http://${target}/`, (res) => res.resume());
    req.setTimeout(1500, () => req.destroy());
    req.on("error", () => undefined);
  }
}
