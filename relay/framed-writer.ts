// Writes encoded GetFlowsResponse messages to a GetFlows call, many gRPC
// messages per HTTP/2 write. grpc-js writes each message on its own, and at
// relay fan-in rates that per-write cost dominates; the wire format is the
// same either way (each message keeps its own 5-byte gRPC prefix). When the
// call's HTTP/2 stream cannot be reached (a different grpc-js layout), it
// falls back to one call.write per message.
import type * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";

const FLUSH_BYTES = 64 * 1024;

/** The HTTP/2 stream under a grpc-js server call (grpc-js 1.14: call -> intercepting calls -> base call). */
function http2StreamOf(call: grpc.ServerWritableStream<unknown, unknown>): http2.ServerHttp2Stream | undefined {
  let layer = (call as unknown as { call?: unknown }).call as { stream?: http2.ServerHttp2Stream; nextCall?: unknown } | undefined;
  for (let depth = 0; layer && depth < 8; depth++) {
    const s = layer.stream;
    if (s && typeof s.write === "function" && typeof s.respond === "function") return s;
    layer = layer.nextCall as typeof layer;
  }
  return undefined;
}

export class FramedWriter {
  private readonly stream?: http2.ServerHttp2Stream;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private blocked = false;

  constructor(private readonly call: grpc.ServerWritableStream<unknown, unknown>, private readonly onDrain: () => void) {
    this.stream = http2StreamOf(call);
    if (this.stream) call.sendMetadata(new grpc.Metadata());
    else call.on("drain", onDrain);
  }

  /** Queues one encoded message; false means the client is slow and the caller should pause its sources. */
  write(message: Buffer): boolean {
    if (!this.stream) return this.call.write(message);
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(message.length, 1);
    this.pending.push(prefix, message);
    this.pendingBytes += message.length + 5;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return !this.blocked;
  }

  /** Queues messages that already carry their gRPC prefixes (no copy until the flush). */
  writeFramed(frames: Buffer): boolean {
    if (!this.stream) {
      let ok = true;
      for (let pos = 0; pos + 5 <= frames.length; pos += 5 + frames.readUInt32BE(pos + 1)) ok = this.call.write(frames.subarray(pos + 5, pos + 5 + frames.readUInt32BE(pos + 1)));
      return ok;
    }
    this.pending.push(frames);
    this.pendingBytes += frames.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return !this.blocked;
  }

  /** Writes everything queued; called before the call ends. */
  flush(): void {
    this.scheduled = false;
    const stream = this.stream;
    if (!stream || !this.pending.length) return;
    const data = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (stream.destroyed || this.call.cancelled) return;
    if (!stream.write(data) && !this.blocked) {
      this.blocked = true;
      stream.once("drain", () => {
        this.blocked = false;
        this.onDrain();
      });
    }
  }
}
