// N Observer servers in one process that replay generated flows (not kernel
// events) as fast as each follower takes them, or at a fixed rate. Each
// upstream encodes a batch of framed gRPC messages once; a batch sent is a
// copy of it with the time and the uuid's sequence digits patched in place
// (fixed-width encodings keep every offset fixed), so the generator costs
// little next to the relay it feeds.
//   replay-upstreams.ts COUNT RATE_PER_UPSTREAM   (RATE 0 = as fast as backpressure allows)
// Prints "ports p1,p2,..." once listening.
import * as grpc from "@grpc/grpc-js";
import { observerService } from "../../proto/load";
import { FramedWriter } from "../../relay/framed-writer";
import { encodeResponse } from "../../relay/wire";

const [count, rate] = process.argv.slice(2).map(Number);
const BATCH = 256;
const SEQ_DIGITS = 12;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** A varint padded to 5 bytes (valid protobuf), so any nanos value fits the same slot. */
function varint5(n: number): number[] {
  const out = varint(n);
  while (out.length < 5) {
    out[out.length - 1] |= 0x80;
    out.push(0);
  }
  return out;
}

function field(tag: number[], payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(tag), Buffer.from(varint(payload.length)), payload]);
}

/** The flow body without time and uuid, encoded once. */
function body(node: string, i: number): Buffer {
  const res = encodeResponse({
    flow: {
      verdict: "FORWARDED",
      IP: { source: `198.18.4.${10 + (i % 200)}`, destination: "198.18.4.250", ipVersion: "IPv4" },
      l4: { TCP: { source_port: 40000 + i, destination_port: 8080, flags: { ACK: true, PSH: true } } },
      source: { namespace: "bench", pod_name: `client-${i % 50}`, labels: ["app=client"] },
      destination: { namespace: "bench", pod_name: "server-0", labels: ["app=server"] },
      Type: "L3_L4",
      node_name: node,
      traffic_direction: "EGRESS",
      is_reply: { value: false },
      flowlens: { packets: 12, bytes: 4200, srtt_us: 180 },
    },
  });
  // Strip the outer "flow" field header to get the flow body.
  let pos = 1;
  while (res[pos] & 0x80) pos++;
  return res.subarray(pos + 1);
}

/** BATCH framed messages for one node, with where each one's time and uuid digits go, and where each message ends. */
function batchTemplate(node: string): { frames: Buffer; timeAt: number[]; seqAt: number[]; ends: number[] } {
  const time = Buffer.from([0x08, ...varint5(0), 0x10, ...varint5(0)]);
  const uuid = Buffer.from(`${node}-${"0".repeat(SEQ_DIGITS)}`);
  const nodeField = field([0xc2, 0x3e], Buffer.from(node));
  const parts: Buffer[] = [];
  const timeAt: number[] = [];
  const seqAt: number[] = [];
  const ends: number[] = [];
  let offset = 0;
  for (let i = 0; i < BATCH; i++) {
    const timeField = field([0x0a], time);
    const uuidField = field([0x92, 0x02], uuid);
    const flow = Buffer.concat([timeField, uuidField, body(node, i)]);
    const flowHeader = Buffer.from([0x0a, ...varint(flow.length)]);
    const message = Buffer.concat([flowHeader, flow, nodeField]);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    const flowAt = offset + 5 + flowHeader.length;
    timeAt.push(flowAt + timeField.length - time.length);
    seqAt.push(flowAt + timeField.length + uuidField.length - SEQ_DIGITS);
    parts.push(prefix, message);
    offset += 5 + message.length;
    ends.push(offset);
  }
  return { frames: Buffer.concat(parts), timeAt, seqAt, ends };
}

const HEX = Buffer.from("0123456789abcdef");

/** A copy of the first `n` messages of the template with the current time and sequence numbers from `seq`. */
function batch(t: ReturnType<typeof batchTemplate>, n: number, seq: number): Buffer {
  const out = Buffer.from(t.frames.subarray(0, t.ends[n - 1]));
  const nowMs = Date.now();
  const seconds = Math.floor(nowMs / 1000);
  const time = Buffer.from([0x08, ...varint5(seconds), 0x10, ...varint5((nowMs - seconds * 1000) * 1e6)]);
  for (let i = 0; i < n; i++) {
    time.copy(out, t.timeAt[i]);
    let s = seq + i;
    for (let d = t.seqAt[i] + SEQ_DIGITS - 1; d >= t.seqAt[i]; d--) {
      out[d] = HEX[s % 16];
      s = Math.floor(s / 16);
    }
  }
  return out;
}

const def = observerService();
const serialize = def.GetFlows.responseSerialize;
const service = { ...def, GetFlows: { ...def.GetFlows, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : serialize(v)) } };

async function startUpstream(index: number): Promise<number> {
  const node = `replay-node-${index}`;
  const template = batchTemplate(node);
  let seq = 0;
  const server = new grpc.Server();
  server.addService(service, {
    GetFlows: (call: grpc.ServerWritableStream<any, any>) => {
      let stopped = false;
      call.on("cancelled", () => (stopped = true));
      const started = Date.now();
      let sent = 0;
      const out = new FramedWriter(call, () => pump());
      const pump = (): void => {
        if (stopped) return;
        let due = rate > 0 ? Math.floor(((Date.now() - started) * rate) / 1000) - sent : 8 * BATCH;
        while (due > 0) {
          const n = Math.min(due, BATCH);
          const frames = batch(template, n, seq);
          seq += n;
          sent += n;
          due -= n;
          // A false return means the relay is behind: wait for its drain.
          if (!out.writeFramed(frames)) return;
        }
        if (rate > 0) setTimeout(pump, 5);
        else setImmediate(pump);
      };
      if (call.request.follow) pump();
      else call.end();
    },
    ServerStatus: (_c: unknown, cb: grpc.sendUnaryData<any>) =>
      cb(null, { num_flows: 0, max_flows: 0, seen_flows: seq, version: "replay", num_connected_nodes: { value: 1 }, num_unavailable_nodes: { value: 0 } }),
    GetNodes: (_c: unknown, cb: grpc.sendUnaryData<any>) => cb(null, { nodes: [{ name: node, state: "NODE_CONNECTED" }] }),
  });
  return new Promise((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

(async () => {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await startUpstream(i));
  process.stdout.write(`ports ${ports.join(",")}\n`);
  // Bounded: a bench run never outlives ten minutes.
  setTimeout(() => process.exit(0), 600_000);
})();
