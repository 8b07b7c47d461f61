// Relay fan-in: 8 upstreams -> one relay -> one follower.
//   1. sustained throughput: replayed flows, upstreams as fast as backpressure allows;
//   2. latency at the 100,000 flows/s target (8 x 12,500/s, replayed), raw follower;
//   3. the same load followed by the real CLI (`flowlens observe -f -o json`);
//   4. packet-to-CLI latency with a real agent observing real TCP traffic
//      (netns pods on 198.18.4.0/24), followed by the real CLI.
// Usage: node --import tsx bench/relay/fan-in.ts [seconds per phase, default 10] [phases to run, default 1234]
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";
import * as http2 from "node:http2";
import { TestNode } from "../../test/agent/daemon/_test-node";
import { scannedUuid, scanResponse } from "../../relay/wire";

const REPO = path.resolve(__dirname, "../..");
const FLOWLENS = path.join(REPO, "cli/flowlens.ts");
const SECONDS = Number(process.argv[2] ?? 10);
const PHASES = process.argv[3] ?? "1234";
// e.g. RELAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/relay-prof" to profile the relay process.
const RELAY_NODE_ARGS = (process.env.RELAY_NODE_ARGS ?? "").split(" ").filter(Boolean);
const UPSTREAMS = 8;
const children = new Set<ChildProcess>();

function spawnTsx(args: string[], onLine: (line: string, stream: "out" | "err") => void, nodeArgs: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  readline.createInterface({ input: child.stdout! }).on("line", (l) => onLine(l, "out"));
  readline.createInterface({ input: child.stderr! }).on("line", (l) => onLine(l, "err"));
  return child;
}

function waitLine(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 30 s`)), 30_000);
    const check = (d: Buffer) => {
      const m = pattern.exec(String(d));
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    child.on("exit", (code) => reject(new Error(`${what} exited ${code}`)));
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function startReplay(ratePerUpstream: number): Promise<{ child: ChildProcess; ports: string[] }> {
  const child = spawnTsx([path.join(__dirname, "replay-upstreams.ts"), String(UPSTREAMS), String(ratePerUpstream)], () => undefined);
  const m = await waitLine(child, /ports ([\d,]+)/, "replay upstreams");
  return { child, ports: m[1].split(",") };
}

async function startRelayProcess(peers: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawnTsx([FLOWLENS, "relay", "--listen-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0", "--peers", peers.map((p) => `127.0.0.1:${p}`).join(",")], () => undefined, RELAY_NODE_ARGS);
  const m = await waitLine(child, /listening on 127\.0\.0\.1:(\d+)/, "relay");
  return { child, port: Number(m[1]) };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = require("node:fs").readFileSync(`/proc/${pid}/stat`, "utf8") as string;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function loadAverage(): string {
  return require("node:os").loadavg()[0].toFixed(1);
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Measured {
  flowsPerSecond: number;
  flows: number;
  p50Ms: number;
  p99Ms: number;
  samples: number;
}

/**
 * Follows the relay over plain HTTP/2 and counts gRPC messages by their
 * prefixes; every 16th flow (by default) is scanned for its time (latency) and uuid
 * (duplicates among the sampled flows), so the follower stays cheap next to
 * the relay. Exhaustive no-duplicate checks are in test/relay.
 */
async function rawFollower(port: number, seconds: number, onStart: () => void, sampleMask = 15): Promise<Measured> {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 4 * 1024 * 1024 } });
  session.on("error", () => undefined);
  session.on("connect", () => session.setLocalWindowSize(32 * 1024 * 1024));
  const call = session.request({ ":method": "POST", ":path": "/observer.Observer/GetFlows", "content-type": "application/grpc+proto", te: "trailers" });
  call.on("error", () => undefined);
  call.end(Buffer.from([0, 0, 0, 0, 2, 0x18, 0x01])); // GetFlowsRequest{follow: true}
  let counting = false;
  let count = 0;
  const latencies: number[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  let carry = Buffer.alloc(0);
  call.on("data", (chunk: Buffer) => {
    const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let pos = 0;
    while (buf.length - pos >= 5) {
      const len = buf.readUInt32BE(pos + 1);
      if (buf.length - pos - 5 < len) break;
      if (counting && buf[pos + 5] === 0x0a) {
        count++;
        if ((count & sampleMask) === 0) {
          const message = buf.subarray(pos + 5, pos + 5 + len);
          const s = scanResponse(message, false);
          const uuid = scannedUuid(message, s);
          if (seen.has(uuid)) duplicates++;
          else seen.add(uuid);
          latencies.push(Date.now() - s.timeUs / 1000);
        }
      }
      pos += 5 + len;
    }
    carry = pos === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
  });
  await new Promise((r) => setTimeout(r, 2000));
  counting = true;
  onStart();
  const started = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = (Date.now() - started) / 1000;
  call.close(http2.constants.NGHTTP2_CANCEL);
  session.destroy();
  if (duplicates) throw new Error(`follower saw ${duplicates} duplicated flows`);
  latencies.sort((a, b) => a - b);
  return { flowsPerSecond: count / elapsed, flows: count, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), samples: latencies.length };
}

/** Follows with the real CLI and measures from its printed JSON. */
async function cliFollower(port: number, seconds: number, extra: string[] = [], onStart = () => {}): Promise<Measured & { lines: number }> {
  let counting = false;
  let count = 0;
  let lines = 0;
  const latencies: number[] = [];
  const child = spawnTsx([FLOWLENS, "observe", "--server", `127.0.0.1:${port}`, "-f", "-o", "json", ...extra], (line, stream) => {
    if (stream !== "out") return;
    lines++;
    if (!counting || !line.startsWith('{"flow"')) return;
    count++;
    const t = /"time":"([^"]+)"/.exec(line);
    if (t) latencies.push(Date.now() - Date.parse(t[1].replace(/(\.\d{3})\d*Z$/, "$1Z")));
  });
  await new Promise((r) => setTimeout(r, 3000));
  counting = true;
  onStart();
  const started = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = (Date.now() - started) / 1000;
  await stopChild(child);
  latencies.sort((a, b) => a - b);
  return { flowsPerSecond: count / elapsed, flows: count, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), samples: latencies.length, lines };
}

async function replayPhase(label: string, ratePerUpstream: number, follower: "raw" | "cli"): Promise<void> {
  const replay = await startReplay(ratePerUpstream);
  const relay = await startRelayProcess(replay.ports);
  try {
    // CPU over the measured window only (after the warm-up): the relay, the upstreams' process and this one (the raw follower).
    let cpu0 = [0, 0, 0];
    const cpuNow = () => [cpuSeconds(relay.child.pid!), cpuSeconds(replay.child.pid!), cpuSeconds(process.pid)];
    const onStart = () => (cpu0 = cpuNow());
    const m = follower === "raw" ? await rawFollower(relay.port, SECONDS, onStart) : await cliFollower(relay.port, SECONDS, [], onStart);
    const [relayCpu, upstreamCpu, benchCpu] = cpuNow().map((c, i) => c - cpu0[i]);
    console.log(
      `${label.padEnd(58)} ${Math.round(m.flowsPerSecond).toLocaleString("en-US").padStart(9)} flows/s   latency p50 ${m.p50Ms.toFixed(0).padStart(5)} ms  p99 ${m.p99Ms.toFixed(0).padStart(5)} ms` +
        `   relay CPU ${relayCpu.toFixed(1)} s (${Math.round(m.flows / relayCpu).toLocaleString("en-US")} flows per relay CPU-second)   upstreams CPU ${upstreamCpu.toFixed(1)} s, follower ${benchCpu.toFixed(1)} s   load avg ${loadAverage()}`,
    );
  } finally {
    await stopChild(relay.child);
    await stopChild(replay.child);
  }
}

async function realAgentPhase(): Promise<void> {
  const node = new TestNode();
  let agent: ChildProcess | undefined;
  let relay: { child: ChildProcess; port: number } | undefined;
  try {
    node.create();
    const client = node.addPod("client-a", "198.18.4.11");
    const server = node.addPod("server-b", "198.18.4.12");
    const traffic = path.join(REPO, "test/relay/_traffic.ts");
    const srv = node.spawnInPod(server, ["node", "--import", "tsx", traffic, "tcp-server", "8080"]);
    await waitLine(srv, /listening/, "tcp server");
    agent = spawnTsx([FLOWLENS, "agent", "--node-name", `bench-${node.suffix}`, "--cgroup-root", node.cgroupDir, "--listen-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0"], () => undefined);
    const m = await waitLine(agent, /gRPC on port (\d+)/, "agent");
    relay = await startRelayProcess([m[1]]);
    // Side by side: the agent followed directly, the relay followed by a raw client, and the relay followed by the CLI.
    const direct = rawFollower(Number(m[1]), SECONDS, () => undefined, 0);
    const relayed = rawFollower(relay.port, SECONDS, () => undefined, 0);
    const measuring = cliFollower(relay.port, SECONDS, ["--to-port", "8080"]);
    await new Promise((r) => setTimeout(r, 2500));
    // Steady TCP traffic for the measured window: one connection every 10 ms.
    await node.run(client, ["node", "--import", "tsx", traffic, "tcp-clients", "198.18.4.12", "8080", String(SECONDS * 90), "10"]);
    const r = await measuring;
    const [d, v] = [await direct, await relayed];
    console.log(
      `${"4. real agent, real TCP in netns, CLI follower".padEnd(58)} ${r.flowsPerSecond.toFixed(0).padStart(9)} flows/s   packet-to-CLI p50 ${r.p50Ms.toFixed(0)} ms  p99 ${r.p99Ms.toFixed(0)} ms  (${r.samples} flows)`,
    );
    console.log(
      `${"   same run, all flows, packet to: the agent's API".padEnd(58)} p50 ${d.p50Ms.toFixed(0)} ms  p99 ${d.p99Ms.toFixed(0)} ms;  the relay's API  p50 ${v.p50Ms.toFixed(0)} ms  p99 ${v.p99Ms.toFixed(0)} ms`,
    );
  } finally {
    await stopChild(relay?.child);
    await stopChild(agent);
    await node.destroy();
  }
}

(async () => {
  console.log(`relay fan-in, ${UPSTREAMS} upstreams -> 1 relay -> 1 follower, ${SECONDS} s per phase, ${require("node:os").cpus().length} CPUs shared by all processes`);
  console.log("phases 1-3 replay generated flows from Observer servers (not kernel events); phase 4 uses a real agent");
  if (PHASES.includes("1")) await replayPhase("1. sustained max, replayed, raw follower", 0, "raw");
  if (PHASES.includes("2")) await replayPhase("2. 8 x 12,500/s offered, replayed, raw follower", 12_500, "raw");
  if (PHASES.includes("3")) await replayPhase("3. 8 x 12,500/s offered, replayed, `flowlens observe -o json`", 12_500, "cli");
  if (PHASES.includes("4")) await realAgentPhase();
})()
  .catch((err) => {
    console.error(`bench failed: ${(err as Error).message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of children) await stopChild(c);
  });
