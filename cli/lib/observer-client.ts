// A typed Observer client for the CLI, and the translation of gRPC failures
// into one-line messages that say the cause and what to do.
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { observerClientConstructor } from "../../proto/load";
import type { GetFlowsRequest, GetFlowsResponse, GetNodesResponse, ServerStatusResponse } from "../../proto/types";
import { CommandError } from "./errors";
import { clientConnection, type ClientTlsFiles } from "./tls";

export const DEFAULT_SERVER = "localhost:4245";

export interface ObserverClient {
  readonly address: string;
  serverStatus(deadlineMs?: number): Promise<ServerStatusResponse>;
  getNodes(deadlineMs?: number): Promise<GetNodesResponse>;
  getFlows(req: GetFlowsRequest): grpc.ClientReadableStream<GetFlowsResponse>;
  close(): void;
}

export function connectObserver(address: string, tls: ClientTlsFiles): ObserverClient {
  const { credentials, options } = clientConnection(tls);
  const Ctor = observerClientConstructor();
  // A large HTTP/2 window lets a busy relay keep writing while this process prints.
  const client = new Ctor(address, credentials, { ...options, "grpc-node.flow_control_window": 1024 * 1024 }) as any;
  const unary = <T>(method: string, deadlineMs: number) =>
    new Promise<T>((resolve, reject) => {
      client[method]({}, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: T) =>
        err ? explainRpcError(err, address, tls).then(reject) : resolve(res),
      );
    });
  return {
    address,
    serverStatus: (deadlineMs = 5000) => unary<ServerStatusResponse>("ServerStatus", deadlineMs),
    getNodes: (deadlineMs = 5000) => unary<GetNodesResponse>("GetNodes", deadlineMs),
    getFlows: (req) => client.GetFlows(req),
    close: () => client.close(),
  };
}

/** Whether a plain TCP connection to host:port succeeds within `timeoutMs`. */
export function tcpReachable(address: string, timeoutMs = 1500): Promise<boolean> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!m) return Promise.resolve(false);
  return new Promise((resolve) => {
    const sock = net.connect({ host: m[1], port: Number(m[2]), timeout: timeoutMs });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
    sock.once("timeout", () => done(false));
  });
}

/**
 * describeRpcError, after checking whether the server's port answers at all:
 * gRPC reports "unreachable" and "speaks another protocol (TLS vs plaintext)" alike.
 */
export async function explainRpcError(err: grpc.ServiceError, address: string, tls: ClientTlsFiles): Promise<CommandError> {
  if (err.code !== grpc.status.UNAVAILABLE || TLS_HINTS.test(err.details ?? "")) return describeRpcError(err, address, tls);
  return describeRpcError(err, address, tls, await tcpReachable(address));
}

const TLS_HINTS = /certificate|self[- ]signed|SSL|TLS|handshake|wrong version number|unable to verify|alert|ERR_SSL|Hostname\/IP does not match/i;

/** Turns a gRPC error into a CommandError whose message names the cause and the fix. */
export function describeRpcError(err: grpc.ServiceError | Error, address: string, tls: ClientTlsFiles, reachable?: boolean): CommandError {
  const e = err as grpc.ServiceError;
  const details = e.details ?? e.message ?? String(err);
  if (e.code === grpc.status.INVALID_ARGUMENT) {
    return new CommandError(`${address} rejected the request: ${details}; fix the flags named there`);
  }
  if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED) {
    if (TLS_HINTS.test(details)) {
      const fix = tls.ca
        ? "check that --tls-ca is the CA that signed the server's certificate, that --tls-server-name matches it, and that --tls-cert/--tls-key are signed by the CA the server trusts"
        : "the server may require TLS: pass --tls-ca (and --tls-cert/--tls-key for mTLS)";
      return new CommandError(`TLS handshake with ${address} failed (${details}); ${fix}`);
    }
    if (reachable === false || /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|Name resolution failed|DNS resolution failed/i.test(details)) {
      return new CommandError(`cannot reach ${address} (${details}); start \`flowlens relay\` there, or point --server at a running relay or agent (host:port)`);
    }
    if (!tls.ca) {
      return new CommandError(`${address} accepts connections but the gRPC handshake failed (${details}); the server probably requires TLS: pass --tls-ca (and --tls-cert/--tls-key for mTLS)`);
    }
    return new CommandError(`connection to ${address} failed (${details}); check --server and the TLS flags`);
  }
  if (e.code === grpc.status.UNIMPLEMENTED) {
    return new CommandError(`${address} does not serve the Observer API (${details}); point --server at a flowlens relay or agent`);
  }
  return new CommandError(`${address}: ${details}`);
}
