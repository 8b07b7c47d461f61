// GetFlows streams from one peer over plain node:http2, for the relay's hot
// path. grpc-js turns every message into a stream event through several
// layers; at fan-in rates that per-message cost is most of the relay's CPU.
// Here a DATA chunk is split into gRPC messages directly (5-byte prefix +
// bytes), which is all a server-streaming call needs; each message is emitted
// still in its frame, so the relay forwards it without re-framing. Unary calls (health,
// nodes) stay on grpc-js. Certificates are read again for every new
// connection, so rotated files apply without a restart.
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { GetFlowsRequest } from "../proto/types";
import type { PeerTlsConfig } from "./credentials";
import { encodeRequest, GET_FLOWS_PATH } from "./wire";

const WINDOW_BYTES = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** The events PeerStream uses, as grpc-js' ClientReadableStream emits them: data, error, status, end. */
export class FlowStream extends EventEmitter {
  private pending: Buffer = EMPTY;
  private done = false;

  constructor(private readonly stream: http2.ClientHttp2Stream) {
    super();
    let grpcStatus: number | undefined;
    let grpcMessage = "";
    const readStatus = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] !== undefined) {
        grpcStatus = Number(headers["grpc-status"]);
        grpcMessage = decodeURIComponent(String(headers["grpc-message"] ?? ""));
      }
    };
    stream.on("response", (headers) => {
      const status = Number(headers[":status"]);
      if (status !== 200) this.fail(grpc.status.UNAVAILABLE, `the peer answered HTTP ${status}, not gRPC`);
      readStatus(headers);
    });
    stream.on("trailers", readStatus);
    stream.on("data", (chunk: Buffer) => this.split(chunk));
    stream.on("error", (err: Error) => this.fail(grpc.status.UNAVAILABLE, err.message));
    stream.on("close", () => {
      if (grpcStatus === grpc.status.OK) {
        if (this.done) return;
        this.done = true;
        this.emit("status", { code: grpc.status.OK, details: "", metadata: new grpc.Metadata() });
        this.emit("end");
      } else if (grpcStatus !== undefined) this.fail(grpcStatus, grpcMessage || `gRPC status ${grpcStatus}`);
      else this.fail(grpc.status.UNAVAILABLE, `stream closed without a gRPC status (HTTP/2 code ${stream.rstCode})`);
    });
  }

  // Only a message cut by a read boundary is copied (its bytes gathered in
  // `pending`); every other message is a view of the chunk it arrived in.
  private split(chunk: Buffer): void {
    let pos = 0;
    while (this.pending.length && pos < chunk.length) {
      const have = this.pending.length;
      const need = have < 5 ? 5 - have : 5 + this.pending.readUInt32BE(1) - have;
      const take = Math.min(need, chunk.length - pos);
      this.pending = Buffer.concat([this.pending, chunk.subarray(pos, pos + take)]);
      pos += take;
      if (this.pending.length >= 5 && this.pending.length === 5 + this.pending.readUInt32BE(1)) {
        const framed = this.pending;
        this.pending = EMPTY;
        this.emit("data", framed);
      }
    }
    while (chunk.length - pos >= 5) {
      const end = pos + 5 + chunk.readUInt32BE(pos + 1);
      if (end > chunk.length) break;
      this.emit("data", chunk.subarray(pos, end));
      pos = end;
    }
    if (pos < chunk.length) this.pending = chunk.subarray(pos);
  }

  private fail(code: number, details: string): void {
    if (this.done) return;
    this.done = true;
    this.emit("error", Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }));
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  cancel(): void {
    this.done = true;
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}

export class Http2FlowClient {
  private session?: http2.ClientHttp2Session;

  constructor(private readonly address: string, private readonly tls: PeerTlsConfig) {}

  private connect(): http2.ClientHttp2Session {
    const current = this.session;
    if (current && !current.closed && !current.destroyed) return current;
    const host = this.address.replace(/^\[/, "").replace(/\]?:\d+$/, "");
    const options: http2.SecureClientSessionOptions = { settings: { initialWindowSize: WINDOW_BYTES } };
    let authority = `http://${this.address}`;
    if (this.tls.ca) {
      authority = `https://${this.address}`;
      options.ca = fs.readFileSync(this.tls.ca);
      if (this.tls.cert && this.tls.key) {
        options.cert = fs.readFileSync(this.tls.cert);
        options.key = fs.readFileSync(this.tls.key);
      }
      // An IP address is checked against the certificate's IP SANs; SNI only carries names.
      const name = this.tls.serverName ?? (net.isIP(host) ? undefined : host);
      options.servername = name;
    }
    const session = http2.connect(authority, options);
    session.on("error", () => undefined); // surfaced through the streams
    session.on("connect", () => session.setLocalWindowSize(WINDOW_BYTES * 8));
    session.on("close", () => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
    return session;
  }

  openFlows(req: GetFlowsRequest): FlowStream {
    const session = this.connect();
    const body = encodeRequest(req);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(body.length, 1);
    const stream = session.request({
      ":method": "POST",
      ":path": GET_FLOWS_PATH,
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    const flows = new FlowStream(stream);
    stream.end(Buffer.concat([prefix, body]));
    return flows;
  }

  /** Drops the connection (a peer that stopped answering); the next stream dials again. */
  reset(): void {
    this.session?.destroy();
    this.session = undefined;
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}
