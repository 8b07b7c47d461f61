// A minimal RESP client for the cart: pipelined commands over one TCP
// connection, replaced by a new one when connections are reset or when the
// last one failed (refused at startup before Redis listened, or closed).
import * as net from "node:net";
import { onReset } from "./connections";

type Reply = string | number | null | Reply[];

/** One connection: replies arrive in the order the commands were sent. */
class Pipeline {
  private readonly socket: net.Socket;
  private readonly waiting: { resolve(r: Reply): void; reject(e: Error): void }[] = [];
  private buffer = Buffer.alloc(0);
  private closing = false;
  private readonly address: string;
  /** The connection failed or closed: nothing sent on it would be answered. */
  failed = false;

  constructor(host: string, port: number) {
    this.address = `${host}:${port}`;
    this.socket = net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk) => this.onData(chunk));
    this.socket.on("error", (err) => this.fail(new Error(`redis connection to ${this.address}: ${err.message}`)));
    this.socket.on("close", () => this.fail(new Error(`redis connection to ${this.address} closed`)));
  }

  command(args: string[]): Promise<Reply> {
    let out = `*${args.length}\r\n`;
    for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(out);
    });
  }

  /** Closes the connection once every reply still owed has arrived. */
  retire(): void {
    this.closing = true;
    if (this.waiting.length === 0) this.socket.end();
  }

  private fail(err: Error): void {
    this.failed = true;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const parsed = parse(this.buffer, 0);
      if (!parsed) break;
      this.buffer = this.buffer.subarray(parsed.next);
      const waiter = this.waiting.shift();
      if (parsed.error) waiter?.reject(new Error(`redis: ${parsed.error}`));
      else waiter?.resolve(parsed.value);
    }
    if (this.closing && this.waiting.length === 0) this.socket.end();
  }
}

export class RedisConnection {
  private current: Pipeline;

  constructor(private readonly host: string, private readonly port: number) {
    this.current = new Pipeline(host, port);
    onReset(() => {
      this.current.retire();
      this.current = new Pipeline(host, port);
    });
  }

  /** Sends on the current connection, or on a new one if that one failed (its waiting commands failed with it). */
  command(...args: string[]): Promise<Reply> {
    if (this.current.failed) this.current = new Pipeline(this.host, this.port);
    return this.current.command(args);
  }

  /** Closes the connection once the replies still owed have arrived. */
  close(): void {
    this.current.retire();
  }
}

interface Parsed { value: Reply; next: number; error?: string }

function parse(buf: Buffer, at: number): Parsed | undefined {
  const eol = buf.indexOf("\r\n", at);
  if (eol < 0) return undefined;
  const line = buf.toString("utf8", at + 1, eol);
  const next = eol + 2;
  switch (buf[at]) {
    case 0x2b: return { value: line, next }; // +
    case 0x2d: return { value: null, next, error: line }; // -
    case 0x3a: return { value: Number(line), next }; // :
    case 0x24: { // $
      const len = Number(line);
      if (len < 0) return { value: null, next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString("utf8", next, next + len), next: next + len + 2 };
    }
    case 0x2a: { // *
      const count = Number(line);
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.next;
      }
      return { value: items, next: pos };
    }
    default:
      return { value: null, next: buf.length, error: `unexpected reply byte ${buf[at]}` };
  }
}
