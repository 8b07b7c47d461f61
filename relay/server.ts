// The relay's Observer server: GetFlows (merged, with history), ServerStatus
// (summed over peers, with connected/unavailable counts) and GetNodes (the
// peers). GetFlows responses that came from peers are written as the bytes
// received; the serializer passes Buffers through untouched.
import * as grpc from "@grpc/grpc-js";
import { observerService } from "../proto/load";
import type { GetNodesResponse, Node, ServerStatusResponse } from "../proto/types";
import { CommandError } from "../cli/lib/errors";
import { serveGetFlows, type GetFlowsContext } from "./get-flows";

export const RELAY_VERSION = "flowlens-relay 0.1.0";

function passThroughService(): grpc.ServiceDefinition {
  const def = observerService();
  const getFlows = def.GetFlows;
  const serialize = getFlows.responseSerialize;
  return { ...def, GetFlows: { ...getFlows, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : serialize(v)) } };
}

function relayStatus(ctx: GetFlowsContext, startedAtMs: number): ServerStatusResponse {
  const peers = ctx.peers.list();
  let numFlows = 0;
  let maxFlows = 0;
  let seenFlows = 0;
  let rate = 0;
  let connected = 0;
  let unavailable = 0;
  const unavailableNames: string[] = [];
  for (const p of peers) {
    const s = p.lastStatus;
    if (p.state === "NODE_CONNECTED" && s) {
      numFlows += s.num_flows ?? 0;
      maxFlows += s.max_flows ?? 0;
      seenFlows += s.seen_flows ?? 0;
      rate += s.flows_rate ?? 0;
    }
    if (p.isRelay && s) {
      // An upstream Hubble relay counts its own nodes.
      connected += s.num_connected_nodes?.value ?? 0;
      unavailable += s.num_unavailable_nodes?.value ?? 0;
      unavailableNames.push(...(s.unavailable_nodes ?? []));
      if (p.state !== "NODE_CONNECTED") unavailable++;
      continue;
    }
    if (p.state === "NODE_CONNECTED") connected++;
    else {
      unavailable++;
      unavailableNames.push(p.name);
    }
  }
  return {
    num_flows: numFlows,
    max_flows: maxFlows,
    seen_flows: seenFlows,
    uptime_ns: (Date.now() - startedAtMs) * 1e6,
    num_connected_nodes: { value: connected },
    num_unavailable_nodes: { value: unavailable },
    unavailable_nodes: unavailableNames,
    version: RELAY_VERSION,
    flows_rate: rate,
  };
}

async function relayNodes(ctx: GetFlowsContext): Promise<GetNodesResponse> {
  const nodes: Node[] = [];
  for (const p of ctx.peers.list()) {
    if (p.isRelay) {
      const upstream = await p.getNodes(3000).catch(() => ({ nodes: [] as Node[] }));
      nodes.push(...(upstream.nodes ?? []));
      continue;
    }
    const s = p.lastStatus;
    nodes.push({
      name: p.name,
      version: s?.version ?? "",
      address: p.address,
      state: p.state === "UNKNOWN_NODE_STATE" ? "NODE_UNAVAILABLE" : p.state,
      tls: { enabled: p.options.tls, server_name: p.options.tlsServerName ?? "" },
      uptime_ns: s?.uptime_ns ?? 0,
      num_flows: s?.num_flows ?? 0,
      max_flows: s?.max_flows ?? 0,
      seen_flows: s?.seen_flows ?? 0,
    });
  }
  return { nodes };
}

export function createRelayServer(ctx: GetFlowsContext): grpc.Server {
  const startedAtMs = Date.now();
  const server = new grpc.Server({ "grpc.keepalive_permit_without_calls": 1, "grpc.max_send_message_length": 16 * 1024 * 1024 });
  server.addService(passThroughService(), {
    GetFlows: (call: grpc.ServerWritableStream<any, any>) => {
      serveGetFlows(call, ctx).catch((err) => call.emit("error", { code: grpc.status.INTERNAL, details: `relay failed serving GetFlows: ${(err as Error).message}` }));
    },
    ServerStatus: (_call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<ServerStatusResponse>) => cb(null, relayStatus(ctx, startedAtMs)),
    GetNodes: (_call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<GetNodesResponse>) => {
      relayNodes(ctx).then((r) => cb(null, r), (err) => cb({ code: grpc.status.INTERNAL, details: String(err) }));
    },
  });
  return server;
}

export function bindServer(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, credentials, (err, port) =>
      err ? reject(new CommandError(`cannot listen on ${address} (${err.message}); pick a free --listen-address`)) : resolve(port),
    ),
  );
}
