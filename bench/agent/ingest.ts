/**
 * Ingestion, end to end: flow events per second the real agent (`flowlens agent`, the production bundle when
 * built) takes from the kernel through its ring buffer into flows, with zero loss, and its CPU and RSS.
 * Sender processes in a test pod (198.18.2.0/24) open a new UDP flow per datagram (udpflood: sendmmsg over
 * 1,024 source ports per process and 256 destination ports) towards an address nobody holds: a static
 * neighbour entry sends them out of the pod to a MAC address no bridge port has, and the node's side drops
 * them as addressed to another host (no receiver, no ICMP errors, so the senders' core goes to sending; that
 * drop happens in the node's namespace, which the agent does not observe); each datagram yields one
 * flow_start record from the pod's egress hook.
 * With two or more CPUs the agent is pinned to CPU 0 and the senders to CPU 1 (taskset), so "one core"
 * is literal. Figures come from the agent itself: hubble_flows_processed_total and
 * flowlens_ringbuf_lost_events_total on its metrics port, CPU and RSS from /proc/<pid>.
 *  1. idle: RSS of the agent with its programs attached and nothing to observe.
 *  2. backlog: the agent is stopped (SIGSTOP) while the senders fill a large ring buffer, then resumed; its
 *     drain rate per CPU-second is what one core of the agent sustains, whatever else runs on the machine.
 *  3. live: the agent with its default ring buffer while the senders run at stepped total rates; reports the
 *     rate reached, losses, agent CPU (% of one core) and events per agent CPU-second, and peak RSS.
 *   node --import tsx bench/agent/ingest.ts
 *   env: RATES=100000,200000,300000 SECONDS=4 SENDERS=3 BACKLOG=400000 RINGBUF=<bytes for the live phase>
 *        PROFILE=<dir> (writes a --cpu-prof of the agent per phase) PIN=0 (no CPU pinning)
 * The agent runs from the production bundle (dist/flowlens.js), rebuilt first when a source is newer.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as os from "node:os";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { TestPods, type Pod } from "../../test/agent/kernel/pods";
import { buildTool, runAsync } from "./common";

const RATES = (process.env.RATES ?? "100000,200000,300000").split(",").map(Number);
const SECONDS = Number(process.env.SECONDS ?? 4);
const SENDERS = Number(process.env.SENDERS ?? 3);
const BACKLOG = Number(process.env.BACKLOG ?? 400_000);
const REPO = path.resolve(__dirname, "../..");
const BUNDLE = path.join(REPO, "dist/flowlens.js");
/** Bytes one record takes in the kernel ring buffer (152-byte record + 8-byte header). */
const RINGBUF_RECORD_BYTES = 160;
const PIN = process.env.PIN !== "0" && os.cpus().length >= 2;
const AGENT_CPU = ["taskset", "-c", "0"];
const SENDER_CPU = ["taskset", "-c", "1"];
/** Where the senders send: a neighbour that does not exist, so the node side discards the frames. */
const DISCARD_IP = "198.18.2.250";
const DISCARD_MAC = "02:00:c6:12:02:fa";

/** Senders run at the lowest priority: the agent is measured with the core it is entitled to, not starved by them. */
function inPod(pod: Pod, cmd: string[]): string[] {
  const pin = PIN ? `${SENDER_CPU.join(" ")} ` : "";
  return ["sh", "-c", `echo $$ > ${pod.cgroupDir}/cgroup.procs && exec ${pin}nice -n 19 ip netns exec ${pod.netns} "$@"`, "sh", ...cmd];
}

/** The load average over the last minute, printed beside each figure (the machine is shared). */
function load(): string {
  return `load ${fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]}`;
}

/** Builds dist/flowlens.js from the current sources (a second or two), so the agent measured is this code, run by plain node. */
function ensureBundle(): void {
  execFileSync(process.execPath, ["--import", "tsx", path.join(REPO, "scripts/build-dist.ts"), "flowlens"], { cwd: REPO, stdio: "inherit" });
}

interface Memory {
  rss: number;
  anon: number;
  file: number;
}

/** The agent process: started from the bundle when it is built, else through tsx. */
class AgentUnderTest {
  private constructor(
    readonly child: ChildProcess,
    readonly metricsPort: number,
  ) {}

  static async start(cgroupRoot: string, extra: string[], profileDir?: string): Promise<AgentUnderTest> {
    // A coarse sampling interval: the profiler's signals interrupt the kernel verifier while programs load.
    const prof = profileDir ? ["--cpu-prof", "--cpu-prof-interval=20000", `--cpu-prof-dir=${profileDir}`] : [];
    // As the chart runs it (NODE_OPTIONS in templates/agent/daemonset.yaml).
    const args = [...prof, "--max-semi-space-size=1", BUNDLE, "agent", "--node-name", "bench", "--listen-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0", "--cgroup-root", cgroupRoot, "--flush-interval", "60s", ...extra];
    // taskset execs node, so the child's pid is the agent's.
    const [cmd, ...cmdArgs] = PIN ? [...AGENT_CPU, process.execPath, ...args] : [process.execPath, ...args];
    const child = spawn(cmd, cmdArgs, { cwd: REPO, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent did not start within 60 s: ${err}`)), 60_000);
      child.stderr!.on("data", (d) => {
        err += d;
        const m = /metrics on port (\d+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.on("exit", (code) => reject(new Error(`agent exited ${code}: ${err}`)));
    });
    return new AgentUnderTest(child, port);
  }

  get pid(): number {
    return this.child.pid!;
  }

  cpuSeconds(): number {
    const fields = fs.readFileSync(`/proc/${this.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  }

  memory(): Memory {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, "utf8");
    const mib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]) / 1024;
    return { rss: mib("VmRSS"), anon: mib("RssAnon"), file: mib("RssFile") };
  }

  /** Where the RSS is: the kernel's ring buffer and maps, node's own binary, and the rest (JS heap, buffers, malloc). */
  mappings(): string {
    const rss = new Map<string, number>();
    let name = "";
    for (const line of fs.readFileSync(`/proc/${this.pid}/smaps`, "utf8").split("\n")) {
      const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s+(.*)$/.exec(line);
      if (m) name = m[1].includes("bpf-map") ? "BPF maps" : m[1] === process.execPath ? "node binary" : "other";
      else if (line.startsWith("Rss:")) rss.set(name, (rss.get(name) ?? 0) + Number(line.split(/\s+/)[1]) / 1024);
    }
    return [...rss].map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ");
  }

  /** The V8 heap by space and memory outside it, from the agent's own metrics (MiB). */
  async heap(): Promise<string> {
    const body = await this.metrics();
    const value = (re: RegExp) => Number(re.exec(body)?.[1] ?? NaN) / 2 ** 20;
    const space = (s: string) => value(new RegExp(`heap_space_size_total_bytes\\{space="${s}"\\} (\\d+)`)).toFixed(1);
    return `JS heap ${value(/nodejs_heap_size_total_bytes (\d+)/).toFixed(1)} (new space ${space("new")}, old ${space("old")}, large objects ${space("large_object")}), external ${value(/nodejs_external_memory_bytes (\d+)/).toFixed(1)}`;
  }

  /** Flows processed and ring-buffer losses, from the agent's metrics. */
  async counters(): Promise<{ flows: number; lost: number }> {
    const body = await this.metrics();
    const sum = (name: string) =>
      body
        .split("\n")
        .filter((l) => l.startsWith(name))
        .reduce((s, l) => s + Number(l.split(" ").pop()), 0);
    return { flows: sum("hubble_flows_processed_total"), lost: sum("flowlens_ringbuf_lost_events_total") };
  }

  private metrics(): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      http.get({ host: "127.0.0.1", port: this.metricsPort, path: "/metrics" }, (res) => {
        let b = "";
        res.on("data", (d) => (b += d));
        res.on("end", () => resolve(b));
      }).on("error", reject);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGCONT");
    this.child.kill("SIGTERM");
    await exited;
  }
}

/** Peak memory of the agent, sampled every 50 ms. */
class MemoryPeak {
  peak: Memory;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly agent: AgentUnderTest) {
    this.peak = agent.memory();
    this.timer = setInterval(() => this.sample(), 50);
  }
  private sample(): void {
    const m = this.agent.memory();
    if (m.rss > this.peak.rss) this.peak = m;
  }
  stop(): Memory {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const mem = (m: Memory) => `RSS ${m.rss.toFixed(1)} MiB (anonymous ${m.anon.toFixed(1)}, file ${m.file.toFixed(1)})`;

/** Runs SENDERS udpflood processes for `total` datagrams at `rate` per second in all; returns sent count and seconds. */
async function send(flood: string, pod: Pod, sinkIp: string, rate: number, seconds: number, total?: number): Promise<{ sent: number; secs: number }> {
  const each = (n: number) => String(Math.ceil(n / SENDERS));
  const runs = Array.from({ length: SENDERS }, () =>
    runAsync(inPod(pod, [flood, sinkIp, each(rate), String(seconds), ...(total ? [each(total)] : [])])),
  );
  const outs = (await Promise.all(runs)).map((o) => o.trim().split(" ").map(Number));
  return { sent: outs.reduce((s, [n]) => s + n, 0), secs: Math.max(...outs.map(([, s]) => s)) };
}

/** Waits until the agent has accounted for `expected` flows (processed or lost), at most 30 s. */
async function settle(agent: AgentUnderTest, base: { flows: number; lost: number }, expected: number): Promise<{ flows: number; lost: number }> {
  let c = await agent.counters();
  for (let i = 0; i < 60 && c.flows - base.flows + (c.lost - base.lost) < expected; i++) {
    await new Promise((r) => setTimeout(r, 500));
    c = await agent.counters();
  }
  // Losses are polled once a second by the agent.
  await new Promise((r) => setTimeout(r, 1100));
  return agent.counters();
}

async function main(): Promise<void> {
  const flood = buildTool("udpflood");
  ensureBundle();
  const pods = new TestPods(["sender"], { subnet: "198.18.2", firstHost: 20 });
  const sender = pods.pod("sender");
  const sinkIp = DISCARD_IP;
  const profileDir = process.env.PROFILE ? path.resolve(process.env.PROFILE) : undefined;
  let agent: AgentUnderTest | undefined;
  console.log(`agent from dist/flowlens.js (plain node)${PIN ? " pinned to CPU 0" : ""}; ${SENDERS} sender processes${PIN ? " pinned to CPU 1" : ""}; ${load()}`);
  try {
    // Removed with the pod's namespace.
    execFileSync("ip", ["-n", sender.netns, "neigh", "add", DISCARD_IP, "lladdr", DISCARD_MAC, "dev", "eth0", "nud", "permanent"]);
    // 1 + 2. Backlog drain with a ring buffer that holds it all.
    const backlogRing = 2 ** Math.ceil(Math.log2(BACKLOG * RINGBUF_RECORD_BYTES * 1.1));
    agent = await AgentUnderTest.start(sender.cgroupDir, ["--ringbuf-bytes", String(backlogRing)], profileDir);
    await new Promise((r) => setTimeout(r, 3000));
    console.log(`idle (ring buffer ${backlogRing >> 20} MiB): ${mem(agent.memory())}; ${load()}`);
    const base = await agent.counters();
    agent.child.kill("SIGSTOP");
    const { sent } = await send(flood, sender, sinkIp, 10_000_000, 60, BACKLOG);
    const cpu0 = agent.cpuSeconds();
    const t0 = process.hrtime.bigint();
    const peak = new MemoryPeak(agent);
    agent.child.kill("SIGCONT");
    const after = await settle(agent, base, sent);
    const cpu = agent.cpuSeconds() - cpu0;
    const drained = after.flows - base.flows;
    console.log(
      `backlog: ${fmt(sent)} flows queued, ${fmt(drained)} drained in ${cpu.toFixed(2)} agent CPU-seconds = ${fmt(drained / cpu)} events per CPU-second ` +
        `(wall ${(Number(process.hrtime.bigint() - t0) / 1e9 - 1.1).toFixed(2)} s or less), lost ${after.lost - base.lost}; peak ${mem(peak.stop())}; ${load()}`,
    );
    await agent.stop();

    // 3. Live, with the default ring buffer unless RINGBUF says otherwise.
    agent = await AgentUnderTest.start(sender.cgroupDir, process.env.RINGBUF ? ["--ringbuf-bytes", process.env.RINGBUF] : [], profileDir);
    await new Promise((r) => setTimeout(r, 3000));
    console.log(`idle (ring buffer ${process.env.RINGBUF ?? "default"}): ${mem(agent.memory())}; ${load()}`);
    for (const rate of RATES) {
      const before = await agent.counters();
      const cpu0 = agent.cpuSeconds();
      const peak = new MemoryPeak(agent);
      const { sent, secs } = await send(flood, sender, sinkIp, rate, SECONDS);
      const c = await settle(agent, before, sent);
      const agentCpu = agent.cpuSeconds() - cpu0;
      const got = c.flows - before.flows;
      const lost = c.lost - before.lost;
      console.log(
        `live, target ${fmt(rate)}/s: senders reached ${fmt(sent / secs)}/s, agent took ${fmt(got)} of ${fmt(sent)}, lost ${fmt(lost)}; ` +
          `agent ${(((agentCpu / secs) * 100) | 0)}% of one core while sending, ${fmt(got / agentCpu)} events per CPU-second; peak ${mem(peak.stop())}; ${load()}`,
      );
      if (lost > 0) break;
    }
    console.log(`after load: ${mem(agent.memory())} = ${agent.mappings()} MiB; ${await agent.heap()} MiB; ${load()}`);
  } finally {
    await agent?.stop();
    await pods.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
