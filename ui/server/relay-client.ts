// The UI's only way to the cluster: the relay's Observer gRPC API. One live
// GetFlows(follow) stream that reconnects with backoff, a status poll
// (ServerStatus + GetNodes) for the header, and bounded history queries.
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { observerClientConstructor } from "../../proto/load";
import type {
  Flow,
  FlowFilter,
  GetFlowsRequest,
  GetFlowsResponse,
  GetNodesResponse,
  ServerStatusResponse,
} from "../../proto/types";
import { timestampFromMillis } from "../../proto/types";
import type { UiConfig } from "./config";
import type { HeaderStatus } from "../shared/wire";

const STATUS_INTERVAL_MS = 2000;
const RPC_DEADLINE_MS = 3000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;

export interface RelayStatus extends Omit<HeaderStatus, "flowsPerSec"> {}

export interface RelayConnectionEvents {
  flow: (flow: Flow) => void;
  status: (status: RelayStatus) => void;
}

export class RelayConnection extends EventEmitter {
  private readonly client: grpc.Client & Record<string, Function>;
  private stream?: grpc.ClientReadableStream<GetFlowsResponse>;
  private statusTimer?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private backoffMs = BACKOFF_MIN_MS;
  private stopped = false;
  private streamError?: string;
  private pollError?: string;
  private nodes = { connected: 0, total: 0, unavailable: [] as string[] };
  private streamUp = false;

  constructor(
    private readonly config: Pick<UiConfig, "relay" | "relayTls">,
    private readonly whitelist: FlowFilter[],
  ) {
    super();
    const Client = observerClientConstructor();
    const tls = config.relayTls;
    const credentials = tls
      ? grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null)
      : grpc.credentials.createInsecure();
    const options: grpc.ChannelOptions = { "grpc.max_receive_message_length": 16 * 1024 * 1024 };
    if (tls?.serverName) options["grpc.ssl_target_name_override"] = tls.serverName;
    this.client = new Client(config.relay, credentials, options) as never;
  }

  get status(): RelayStatus {
    const error = this.streamError ?? this.pollError;
    return {
      relay: error ? "unavailable" : this.streamUp ? "connected" : "connecting",
      relayError: error ? `relay ${this.config.relay}: ${error}` : undefined,
      nodesConnected: this.nodes.connected,
      nodesTotal: this.nodes.total,
      unavailableNodes: this.nodes.unavailable,
    };
  }

  start(): void {
    this.openStream();
    void this.pollStatus();
    this.statusTimer = setInterval(() => void this.pollStatus(), STATUS_INTERVAL_MS);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.statusTimer);
    clearTimeout(this.reconnectTimer);
    this.stream?.cancel();
    this.client.close();
  }

  /**
   * Streams the flows of a closed window from the relay's history, up to
   * `limit` (a browser asking for a busy day must not exhaust the server).
   */
  queryWindow(sinceMs: number, untilMs: number, whitelist: FlowFilter[], limit: number, onFlow: (f: Flow) => void): Promise<{ truncated: boolean }> {
    const request: GetFlowsRequest = {
      since: timestampFromMillis(sinceMs),
      until: timestampFromMillis(untilMs),
      follow: false,
      first: true,
      number: limit,
      whitelist,
    };
    return new Promise((resolve, reject) => {
      let count = 0;
      let done = false;
      const call: grpc.ClientReadableStream<GetFlowsResponse> = this.client.GetFlows(request);
      call.on("data", (res: GetFlowsResponse) => {
        if (done || !res.flow) return;
        onFlow(res.flow);
        if (++count >= limit) {
          done = true;
          call.cancel();
          resolve({ truncated: true });
        }
      });
      call.on("end", () => {
        if (!done) resolve({ truncated: false });
        done = true;
      });
      call.on("error", (err: grpc.ServiceError) => {
        if (done) return;
        done = true;
        reject(new Error(`relay ${this.config.relay} GetFlows(since/until) failed: ${err.details || err.message}`));
      });
    });
  }

  private openStream(): void {
    if (this.stopped) return;
    // Recent flows first, so a fresh page shows a map at once; then live.
    const request: GetFlowsRequest = { follow: true, number: 2000, whitelist: this.whitelist };
    const stream: grpc.ClientReadableStream<GetFlowsResponse> = this.client.GetFlows(request);
    this.stream = stream;
    stream.on("metadata", () => this.markStreamUp());
    stream.on("data", (res: GetFlowsResponse) => {
      this.markStreamUp();
      if (res.flow) this.emit("flow", res.flow);
      else if (res.node_status) void this.pollStatus();
    });
    const retry = (reason: string) => {
      if (this.stream !== stream || this.stopped) return;
      this.stream = undefined;
      this.streamUp = false;
      this.streamError = reason;
      this.emit("status", this.status);
      this.reconnectTimer = setTimeout(() => this.openStream(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    };
    stream.on("error", (err: grpc.ServiceError) => retry(describeGrpcError(err)));
    stream.on("end", () => retry("the flow stream ended"));
  }

  private markStreamUp(): void {
    if (this.streamUp) return;
    this.streamUp = true;
    this.streamError = undefined;
    this.backoffMs = BACKOFF_MIN_MS;
    this.emit("status", this.status);
  }

  private async pollStatus(): Promise<void> {
    try {
      const [status, nodes] = await Promise.all([
        this.unary<ServerStatusResponse>("ServerStatus"),
        this.unary<GetNodesResponse>("GetNodes"),
      ]);
      const list = nodes.nodes ?? [];
      const connected = status.num_connected_nodes?.value ?? list.filter((n) => n.state === "NODE_CONNECTED").length;
      const unavailable = new Set(status.unavailable_nodes ?? []);
      for (const n of list) if (n.name && n.state && n.state !== "NODE_CONNECTED") unavailable.add(n.name);
      const total = Math.max(list.length, connected + (status.num_unavailable_nodes?.value ?? unavailable.size));
      this.nodes = { connected, total, unavailable: [...unavailable].sort() };
      this.pollError = undefined;
    } catch (err) {
      this.pollError = describeGrpcError(err as grpc.ServiceError);
    }
    this.emit("status", this.status);
  }

  private unary<T>(method: "ServerStatus" | "GetNodes"): Promise<T> {
    return new Promise((resolve, reject) => {
      this.client[method]({}, { deadline: Date.now() + RPC_DEADLINE_MS }, (err: grpc.ServiceError | null, res: T) =>
        err ? reject(err) : resolve(res),
      );
    });
  }
}

function describeGrpcError(err: grpc.ServiceError): string {
  if (err.code === grpc.status.UNAVAILABLE) return `unreachable (${err.details || err.message})`;
  if (err.code === grpc.status.DEADLINE_EXCEEDED) return "did not answer in time";
  if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED) {
    return `refused the UI's credentials (${err.details}); check --relay-tls-cert/--relay-tls-key`;
  }
  return err.details || err.message;
}
