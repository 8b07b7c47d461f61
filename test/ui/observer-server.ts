// A real Observer gRPC server holding flows a test hands it: GetFlows with
// follow, since/until and Hubble's whitelist semantics (pod prefix, verdict,
// protocol), ServerStatus and GetNodes. It stands where the relay stands, for
// tests of the UI that need exact, known flows.
import * as grpc from "@grpc/grpc-js";
import { observerService } from "../../proto/load";
import type { Flow, FlowFilter, GetFlowsRequest, GetFlowsResponse, Node } from "../../proto/types";
import { timestampToMillis } from "../../proto/types";

export interface ObserverServer {
  address: string;
  /** Adds flows to the history and sends them to followers. */
  push(flows: Flow[]): void;
  /**
   * Like push, with each flow's GetFlowsResponse already encoded (a
   * benchmark's sender would otherwise spend more time encoding than the
   * receiver spends decoding).
   */
  pushEncoded(flows: Array<{ flow: Flow; frame: Buffer }>): void;
  setNodes(nodes: Node[]): void;
  /** Requests received, for asserting what the UI asked for. */
  requests: GetFlowsRequest[];
  close(): Promise<void>;
}

function endpointMatches(prefixes: string[] | undefined, ns: string | undefined, pod: string | undefined): boolean {
  if (!prefixes?.length) return true;
  const name = `${ns ?? ""}/${pod ?? ""}`;
  return prefixes.some((p) => name.startsWith(p));
}

export function flowMatchesFilter(f: Flow, filter: FlowFilter): boolean {
  if (!endpointMatches(filter.source_pod, f.source?.namespace, f.source?.pod_name)) return false;
  if (!endpointMatches(filter.destination_pod, f.destination?.namespace, f.destination?.pod_name)) return false;
  if (filter.verdict?.length && !filter.verdict.includes(f.verdict!)) return false;
  if (filter.protocol?.length) {
    const proto = f.l4?.TCP ? "tcp" : f.l4?.UDP ? "udp" : f.l4?.ICMPv4 ? "icmpv4" : "";
    if (!filter.protocol.map((p) => p.toLowerCase()).includes(proto)) return false;
  }
  return true;
}

function matches(f: Flow, req: GetFlowsRequest): boolean {
  const white = req.whitelist ?? [];
  if (white.length && !white.some((w) => flowMatchesFilter(f, w))) return false;
  if ((req.blacklist ?? []).some((b) => flowMatchesFilter(f, b))) return false;
  const t = timestampToMillis(f.time);
  if (req.since && t < timestampToMillis(req.since)) return false;
  if (req.until && t > timestampToMillis(req.until)) return false;
  return true;
}

export async function startObserverServer(host = "127.0.0.1"): Promise<ObserverServer> {
  const history: Flow[] = [];
  const followers = new Set<grpc.ServerWritableStream<GetFlowsRequest, GetFlowsResponse>>();
  const requests: GetFlowsRequest[] = [];
  let nodes: Node[] = [{ name: "node-a", state: "NODE_CONNECTED" }];
  const server = new grpc.Server();
  const service = observerService();
  const serialize = service.GetFlows.responseSerialize;
  const getFlows = { ...service.GetFlows, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : serialize(v)) };
  server.addService({ ...service, GetFlows: getFlows }, {
    GetFlows(call: grpc.ServerWritableStream<GetFlowsRequest, GetFlowsResponse>) {
      const req = call.request;
      requests.push(req);
      const past = history.filter((f) => matches(f, req));
      const n = req.number || (req.since || req.until ? past.length : 0);
      const slice = req.first ? past.slice(0, n) : past.slice(Math.max(0, past.length - n));
      for (const flow of slice) call.write({ flow, node_name: flow.node_name, time: flow.time });
      if (!req.follow) return void call.end();
      followers.add(call);
      call.on("cancelled", () => followers.delete(call));
      call.on("close", () => followers.delete(call));
    },
    ServerStatus(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const down = nodes.filter((n) => n.state !== "NODE_CONNECTED").map((n) => n.name!);
      cb(null, {
        num_flows: history.length,
        max_flows: 100_000,
        seen_flows: history.length,
        num_connected_nodes: { value: nodes.length - down.length },
        num_unavailable_nodes: { value: down.length },
        unavailable_nodes: down,
        version: "test",
      });
    },
    GetNodes(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      cb(null, { nodes });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `${host}:${port}`,
    requests,
    push(flows) {
      // Bounded: benchmarks stream for a while, and only recent flows matter.
      history.push(...flows);
      if (history.length > 200_000) history.splice(0, history.length - 100_000);
      for (const call of followers) {
        for (const flow of flows) if (matches(flow, call.request)) call.write({ flow, node_name: flow.node_name, time: flow.time });
      }
    },
    pushEncoded(items) {
      for (const { flow } of items) history.push(flow);
      if (history.length > 200_000) history.splice(0, history.length - 100_000);
      for (const call of followers) {
        for (const { flow, frame } of items) if (matches(flow, call.request)) call.write(frame as never);
      }
    },
    setNodes(next) {
      nodes = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of followers) c.end();
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000).unref();
      }),
  };
}
