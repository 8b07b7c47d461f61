// A follower of the real agent sees a new connection's flows as they happen, stamped with the time of the
// packet or socket event they report, without waiting for the periodic flush (5 s by default).
import type { ChildProcess } from "node:child_process";
import type { ClientReadableStream } from "@grpc/grpc-js";
import type { Flow, GetFlowsResponse } from "../../../proto/types";
import { TestNode, type TestPod } from "./_test-node";
import { observerClient, startAgent, stopAgent, waitReady, type ObserverClient, type RunningAgent } from "./_agent-process";

const PORT = 8080;
// Half the flush interval, so a record that waited for the flush fails, while a machine busy with the rest of the
// suite (a browser laying out a large map took 1.4 s from the agent once) does not. The agent's own figure
// (milliseconds) is in bench/relay/fan-in.ts.
const PROMPT_MS = 2500;

const node = new TestNode();
let client: TestPod;
let server: TestPod;
let agent: RunningAgent | undefined;
let observer: ObserverClient | undefined;
let follow: ClientReadableStream<GetFlowsResponse> | undefined;
const servers: ChildProcess[] = [];
const received: Array<{ flow: Flow; atMs: number }> = [];

function timeMs(t: { seconds?: number | string | { toString(): string }; nanos?: number } | undefined): number {
  return Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
}

beforeAll(async () => {
  node.create();
  client = node.addPod("client-f", "198.18.1.40");
  server = node.addPod("server-f", "198.18.1.41");
  servers.push(await node.startServer(server, ["tcp-server", PORT, 100]));
  agent = await startAgent(["--node-name", `node-${node.suffix}`, "--listen-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0", "--cgroup-root", node.cgroupDir]);
  await waitReady(agent);
  observer = observerClient(agent.grpcPort);
  follow = observer.GetFlows({ follow: true }) as ClientReadableStream<GetFlowsResponse>;
  follow.on("data", (r: GetFlowsResponse) => {
    if (r.flow) received.push({ flow: r.flow, atMs: Date.now() });
  });
  follow.on("error", () => undefined);
  // The stream's headers arrive once the agent has subscribed the call.
  await new Promise((resolve) => follow!.once("metadata", resolve));
}, 60_000);

afterAll(async () => {
  follow?.cancel();
  observer?.close();
  try {
    if (agent) await stopAgent(agent);
  } finally {
    await node.destroy();
  }
}, 60_000);

test("a follower receives a new connection's flows long before the flush, each stamped with its own event's time", async () => {
  const startedMs = Date.now();
  const { localPort } = await node.traffic(client, ["tcp-client", server.ip, PORT, 200, 100]);
  const ofConnection = (f: Flow) => {
    const tcp = f.l4?.TCP;
    return (tcp?.source_port === localPort && tcp.destination_port === PORT) || (tcp?.source_port === PORT && tcp.destination_port === localPort);
  };
  // Connection open, SYNs, FINs and close; flushes of the connection come later, at the flush interval.
  const deadline = Date.now() + 4000;
  while (Date.now() < deadline && !received.some((r) => ofConnection(r.flow) && r.flow.flowlens?.event === "sock_close")) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const flows = received.filter((r) => ofConnection(r.flow));
  const events = new Set(flows.map((r) => r.flow.flowlens?.event));
  expect([...events].sort()).toEqual(expect.arrayContaining(["flow_start", "sock_close", "sock_established", "sock_open", "tcp_flags"]));
  for (const { flow, atMs } of flows) {
    const t = timeMs(flow.time);
    // Not older than the connection, not from the future, and delivered promptly.
    expect(t).toBeGreaterThanOrEqual(startedMs - 5);
    expect(t).toBeLessThanOrEqual(atMs + 5);
    expect(atMs - t).toBeLessThan(PROMPT_MS);
  }
  // A packet record's time is its packet's: the first packet of a flow is also when the flow was first seen.
  for (const { flow } of flows.filter((r) => r.flow.flowlens?.event === "flow_start")) {
    expect(timeMs(flow.time)).toBe(timeMs(flow.flowlens!.first_seen));
  }
}, 30_000);
