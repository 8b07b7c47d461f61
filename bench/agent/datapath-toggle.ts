/**
 * Datapath overhead with the agent's programs switched on and off every fraction of a second, while one
 * client alternates round trips between an observed and an unobserved connection (rr pair, per time slot).
 *
 * The agent's object is loaded once, as the daemon loads it, and its programs (cgroup_skb ingress and egress on
 * the observed group, the socket-state, retransmit and kfree_skb tracepoints, and the egress NAT source
 * chosen by NAT) are attached for some slots and detached for others, in groups of four ordered D A A D or A D D A. The connections are
 * made with everything attached, so they count on TCP's counters as the agent's connections do; detaching
 * leaves their socket storage in place. Slots are short (default 400 ms) because this machine's round trip
 * switches between two speed modes every few seconds: adjacent slots share a mode, blocks of seconds do not.
 * Round trips in each slot's first GUARD_MS are left out: switching happens then (and the slot's histograms
 * are printed); a slot whose switch took longer is dropped with its group.
 *
 * From each group of four slots, each percentile of its attached slots over its detached slots (geometric
 * means), for:
 * - the observed connection: the agent's whole kernel-side cost to a packet it observes (the primary figure);
 * - the unobserved connection: what the agent costs packets it does not observe (the NAT hook; the cgroup
 *   hooks' global switch, which sends every socket's packets through the cgroup BPF path);
 * - their ratio: the per-socket part alone.
 * Estimates are geometric means over groups, 95% bootstrap intervals over groups; the A/A control compares
 * the two detached slots of each group. The daemon's userspace is not running here: datapath.ts measures
 * the whole daemon by block alternation, at a noise of several percent.
 *   node --import tsx bench/agent/datapath-toggle.ts
 *   env: SECONDS=240 SLOT_MS=400 GUARD_MS=60 REQUEST_BYTES=64 CPU=1 (the servers') CLIENT_CPU=$CPU
 *        AGENT_CPUS=0 (where this process switches)
 *        NICE=-5 RESAMPLES=1000 NAT=conntrack
 * NAT: conntrack (the agent's default: a subscription to conntrack's events in this namespace, held for the
 * whole run, as it runs nothing per packet), netfilter or tracepoint (the programs, switched with the rest),
 * or none.
 */
import { execFileSync } from "node:child_process";
import { DEFAULT_OBJECT_PATH, OPTIONAL_PROGRAMS, setObservedRoot, TRACING_PROGRAMS } from "../../agent/kernel/capture";
import { startEgressNat } from "../../agent/kernel/egress-nat";
import { resolveCgroupRoot } from "../../agent/kernel/cgroup-scope";
import { loadNative, type NativeBpfObject } from "../../agent/kernel/native";
import { buildTool, envCpuList, envNumber, loadAverage } from "./common";
import { PooledHistogram, type SparseHistogram } from "./latency-histogram";
import { geometricMeans, pairedRatios } from "./paired-ratio";
import { PairedPods } from "./paired-pods";
import { formatRatios, P99, PERCENTILE_NAMES, PERCENTILES, verdict } from "./ratio-report";
import type { Interval } from "./bootstrap";

const SECONDS = envNumber("SECONDS", 240, (n) => n >= 10, "seconds of round trips, at least 10");
const SLOT_MS = envNumber("SLOT_MS", 400, (n) => Number.isInteger(n) && n >= 50, "a slot length in whole ms, at least 50");
const GUARD_MS = envNumber("GUARD_MS", 60, (n) => Number.isInteger(n) && n >= 1 && n < SLOT_MS / 2, "a guard in whole ms, under half a slot");
const REQUEST_BYTES = envNumber("REQUEST_BYTES", 64, (n) => Number.isInteger(n) && n >= 1 && n <= 65536, "a request size from 1 to 65536 bytes");
const NICE = envNumber("NICE", -5, (n) => Number.isInteger(n) && n >= -20 && n <= 19, "a nice value from -20 to 19 for client and servers");
const RESAMPLES = envNumber("RESAMPLES", 1000, (n) => Number.isInteger(n) && n >= 100, "at least 100 bootstrap resamples");
const NAT = process.env.NAT ?? "conntrack";
if (!["conntrack", "netfilter", "tracepoint", "none"].includes(NAT)) throw new Error(`NAT=${NAT}: expected conntrack, netfilter, tracepoint or none`);
const CPU = envCpuList("CPU", "1");
/** Where the client runs: by default beside the servers, the shortest round trip and so the largest ratio. */
const CLIENT_CPU = envCpuList("CLIENT_CPU", CPU);
const AGENT_CPUS = envCpuList("AGENT_CPUS", "0");
/** Slot states in groups of four, D A A D then A D D A, so drift cancels within each pair of groups. */
const PATTERN = [false, true, true, false, true, false, false, true];

/** The agent's programs on `group`, attached; returns the attachment ids. */
function attachAll(obj: NativeBpfObject, group: string): number[] {
  const ids = TRACING_PROGRAMS.map((p) => obj.attachTracing(p));
  if (NAT === "netfilter" || NAT === "tracepoint") ids.push(...startEgressNat(loadNative(), obj, [], NAT, () => {}).attachments);
  ids.push(obj.attachCgroup("fl_cgroup_ingress", group), obj.attachCgroup("fl_cgroup_egress", group));
  return ids;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const monoNs = () => process.hrtime.bigint();

interface Slot {
  attached: boolean;
  observed: number[];
  unobserved: number[];
}

const fmt = (values: number[], intervals: Interval[]) => formatRatios(PERCENTILE_NAMES, values, intervals);

async function main(): Promise<void> {
  const rr = buildTool("rr");
  // This process switches the programs: it keeps to the agent's CPU, off the measured one.
  execFileSync("taskset", ["-a", "-p", "-c", AGENT_CPUS, String(process.pid)], { stdio: "ignore" });
  console.log(`load average at start: ${loadAverage()}`);
  console.log(
    `${SECONDS} s of ${REQUEST_BYTES}-byte round trips alternating between an observed and an unobserved connection, ${CLIENT_CPU === CPU ? `client and servers on CPU ${CPU}` : `client on CPU ${CLIENT_CPU}, servers on CPU ${CPU}`} ` +
      `(nice ${NICE}); the agent's programs (egress NAT: ${NAT}) switched every ${SLOT_MS} ms slot, ` +
      `the first ${GUARD_MS} ms of each slot left out`,
  );
  const pods = new PairedPods();
  const obj = new (loadNative().BpfObject)(DEFAULT_OBJECT_PATH, { optionalPrograms: OPTIONAL_PROGRAMS });
  let ids: number[] = [];
  const detachAll = () => {
    for (const id of ids) obj.detach(id);
    ids = [];
  };
  const switched = new Map<number, { attached: boolean; lateNs: bigint }>();
  const natEvents = NAT === "conntrack" ? startEgressNat(loadNative(), obj, [], "conntrack", () => {}).events : null;
  try {
    await pods.start(rr, CPU, NICE, CLIENT_CPU);
    setObservedRoot(obj, resolveCgroupRoot(pods.observedGroup));
    ids = attachAll(obj, pods.observedGroup);
    const slotNs = BigInt(SLOT_MS) * 1_000_000n;
    const run = pods.measureSlots(REQUEST_BYTES, SECONDS, SLOT_MS, GUARD_MS);
    let running = true;
    void run.finally(() => (running = false)).catch(() => undefined);
    // At each slot boundary, the state the pattern gives that slot; how late the switch finished is kept.
    let slot = monoNs() / slotNs + 2n;
    while (running) {
      const boundary = slot * slotNs;
      // Never early: a switch before the boundary would fall in the previous slot's measured part.
      while (monoNs() < boundary) await sleep(Math.max(0, Number(boundary - monoNs()) / 1e6) + 0.5);
      const attached = PATTERN[Number(slot % BigInt(PATTERN.length))];
      if (attached && ids.length === 0) ids = attachAll(obj, pods.observedGroup);
      if (!attached && ids.length > 0) detachAll();
      switched.set(Number(slot), { attached, lateNs: monoNs() - boundary });
      slot += 1n;
    }
    const slots = await run;
    detachAll();

    const guardNs = BigInt(GUARD_MS) * 1_000_000n;
    const late = [...switched.values()].filter((s) => s.lateNs >= guardNs).length;
    const lateMs = [...switched.values()].map((s) => Number(s.lateNs) / 1e6).sort((a, b) => a - b);
    const usable = new Map<number, Slot>();
    for (const [k, [o, u]] of slots) {
      const s = switched.get(k);
      if (!s || s.lateNs >= guardNs) continue;
      const pct = (h: SparseHistogram) => new PooledHistogram().add(h).percentilesNs(PERCENTILES);
      usable.set(k, { attached: s.attached, observed: pct(o), unobserved: pct(u) });
    }
    // Groups of four slots that start a D A A D or A D D A run and are all usable.
    const groups: Slot[][] = [];
    for (const k of [...usable.keys()].sort((a, b) => a - b)) {
      if (k % 4 !== 0) continue;
      const g = [0, 1, 2, 3].map((i) => usable.get(k + i));
      if (g.every((s): s is Slot => s !== undefined)) groups.push(g);
    }
    const roundTrips = [...slots.values()].reduce((n, [o]) => n + o.count, 0);
    console.log(
      `${slots.size} slots measured (${roundTrips} round trips per connection), ${switched.size} switches (finished after the boundary by ` +
        `${lateMs[Math.floor(lateMs.length / 2)].toFixed(1)} ms median, ${lateMs[lateMs.length - 1].toFixed(1)} ms at most), ${late} after the guard; ` +
        `${groups.length} complete groups of four`,
    );
    console.log(`load average at end: ${loadAverage()}`);

    const sideRatios = (measure: (s: Slot) => number[], num: (g: Slot[]) => Slot[], den: (g: Slot[]) => Slot[]) =>
      groups.map((g) => {
        const n = geometricMeans(num(g).map(measure));
        const d = geometricMeans(den(g).map(measure));
        return n.map((v, i) => v / d[i]);
      });
    const attachedOf = (g: Slot[]) => g.filter((s) => s.attached);
    const detachedOf = (g: Slot[]) => g.filter((s) => !s.attached);
    // A/A: the two detached slots of a group, the later over the earlier in even groups and the reverse in odd ones.
    const laterOf = (g: Slot[]) => [detachedOf(g)[groups.indexOf(g) % 2 === 0 ? 1 : 0]];
    const earlierOf = (g: Slot[]) => [detachedOf(g)[groups.indexOf(g) % 2 === 0 ? 0 : 1]];
    const rows: Array<[string, (s: Slot) => number[]]> = [
      ["observed connection (the agent's cost to a packet it observes)", (s) => s.observed],
      ["unobserved connection (its cost to packets it does not observe)", (s) => s.unobserved],
      ["observed over unobserved (the per-socket part)", (s) => s.observed.map((v, i) => v / s.unobserved[i])],
    ];
    console.log(`\nattached over detached slots, geometric mean over ${groups.length} groups, 95% bootstrap intervals over groups (${RESAMPLES} resamples)`);
    let primary: ReturnType<typeof pairedRatios> | undefined;
    for (const [name, measure] of rows) {
      const agent = pairedRatios(sideRatios(measure, attachedOf, detachedOf), RESAMPLES);
      const control = pairedRatios(sideRatios(measure, laterOf, earlierOf), RESAMPLES);
      primary ??= agent;
      console.log(`  ${name}:`);
      console.log(`    agent:              ${fmt(agent.values, agent.intervals)}`);
      console.log(`    A/A control:        ${fmt(control.values, control.intervals)}`);
    }
    console.log(`  ${verdict("p99 ratio (observed connection)", primary!.values[P99], primary!.intervals[P99], 1.03, true)}`);
  } finally {
    detachAll();
    natEvents?.close();
    obj.close();
    await pods.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
