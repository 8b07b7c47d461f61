// One upstream Observer server (an agent, or GKE's managed hubble-relay): its
// gRPC channel, its health (ServerStatus polled every second) and the raw
// GetFlows streams opened on it.
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { observerService } from "../proto/load";
import type { GetFlowsRequest, GetNodesResponse, NodeState, ServerStatusResponse } from "../proto/types";
import type { PeerTlsConfig } from "./credentials";
import { Http2FlowClient, type FlowStream } from "./http2-flow-client";
import { GET_NODES_PATH, SERVER_STATUS_PATH } from "./wire";

export interface PeerOptions {
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
  tls: boolean;
  tlsServerName?: string;
  /** Certificate files for the flow streams, read again for each new connection. */
  tlsFiles: PeerTlsConfig;
  healthIntervalMs: number;
  /** The upstream is a Hubble relay (many nodes) rather than one agent. */
  isRelay?: boolean;
}

export class Peer extends EventEmitter {
  state: NodeState = "UNKNOWN_NODE_STATE";
  lastStatus?: ServerStatusResponse;
  lastError = "";
  /** Last time any stream on this peer delivered data; a busy peer that answers ServerStatus slowly is still alive. */
  lastDataMs = 0;
  private readonly client: grpc.Client;
  private readonly flowClient: Http2FlowClient;
  private healthTimer?: NodeJS.Timeout;
  private closed = false;
  private nameFromDiscovery: boolean;

  constructor(readonly address: string, public name: string, readonly options: PeerOptions) {
    super();
    this.nameFromDiscovery = name !== address;
    this.client = new grpc.Client(address, options.credentials, {
      ...options.channelOptions,
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2000,
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
    });
    this.flowClient = new Http2FlowClient(address, options.tlsFiles);
  }

  get isRelay(): boolean {
    return this.options.isRelay === true;
  }

  startHealthChecks(): void {
    const check = async () => {
      if (this.closed) return;
      try {
        this.lastStatus = await this.serverStatus(Math.max(1000, this.options.healthIntervalMs * 2));
        this.lastError = "";
        if (!this.nameFromDiscovery && this.name === this.address && !this.isRelay) await this.learnName();
        this.setState("NODE_CONNECTED");
      } catch (err) {
        this.lastError = (err as grpc.ServiceError).details ?? String(err);
        const recentlyStreaming = Date.now() - this.lastDataMs < this.options.healthIntervalMs * 2;
        if (!recentlyStreaming) this.setState("NODE_UNAVAILABLE");
      }
      if (!this.closed) this.healthTimer = setTimeout(check, this.options.healthIntervalMs);
    };
    void check();
  }

  /** Takes the node name the agent reports about itself, so status events name nodes rather than addresses. */
  private async learnName(): Promise<void> {
    try {
      const nodes = await this.getNodes(1000);
      const only = nodes.nodes?.length === 1 ? nodes.nodes[0].name : undefined;
      if (only) this.name = only;
    } catch {
      // Agents without GetNodes keep the address until a flow names the node.
    }
  }

  /** Whether the node name is settled (from discovery, GetNodes or a flow); an upstream relay serves many nodes. */
  get nameKnown(): boolean {
    return this.isRelay || this.nameFromDiscovery || this.name !== this.address;
  }

  /** Called with the node_name of flows, for agents that do not answer GetNodes. */
  observeNodeName(name: string): void {
    if (name && !this.nameFromDiscovery && !this.isRelay && this.name === this.address) this.name = name;
  }

  private setState(state: NodeState): void {
    if (state === this.state) return;
    this.state = state;
    // A peer that stopped answering may hold its socket open: dial afresh next time.
    if (state === "NODE_UNAVAILABLE") this.flowClient.reset();
    this.emit("state", state);
  }

  serverStatus(deadlineMs: number): Promise<ServerStatusResponse> {
    return this.unary<ServerStatusResponse>(SERVER_STATUS_PATH, "ServerStatus", deadlineMs);
  }

  getNodes(deadlineMs: number): Promise<GetNodesResponse> {
    return this.unary<GetNodesResponse>(GET_NODES_PATH, "GetNodes", deadlineMs);
  }

  private unary<T>(path: string, method: "ServerStatus" | "GetNodes", deadlineMs: number): Promise<T> {
    const def = observerService()[method];
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(path, def.requestSerialize, def.responseDeserialize, {}, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(err) : resolve(res as T),
      );
    });
  }

  /** A GetFlows stream whose messages are the encoded GetFlowsResponse bytes. */
  openFlows(req: GetFlowsRequest): FlowStream {
    return this.flowClient.openFlows(req);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.healthTimer);
    this.client.close();
    this.flowClient.close();
    this.emit("closed");
  }
}
