// N Observer servers in one process that replay generated flows (not kernel
// events) as fast as each follower takes them, or at a fixed rate. Flows are
// built from one encoded template with a fresh time and uuid spliced in and
// written through the relay's batching writer, so the generator costs little
// next to the relay it feeds.
//   replay-upstreams.ts COUNT RATE_PER_UPSTREAM   (RATE 0 = as fast as backpressure allows)
// Prints "ports p1,p2,..." once listening.
import * as grpc from "@grpc/grpc-js";
import { observerService } from "../../proto/load";
import { FramedWriter } from "../../relay/framed-writer";
import { encodeResponse } from "../../relay/wire";

const [count, rate] = process.argv.slice(2).map(Number);

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function field(tag: number[], payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(tag), Buffer.from(varint(payload.length)), payload]);
}

/** The flow body without time and uuid, encoded once. */
function template(node: string, i: number): Buffer {
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

let seq = 0;
function flowMessage(node: string, body: Buffer, nodeField: Buffer): Buffer {
  const nowMs = Date.now();
  const seconds = Math.floor(nowMs / 1000);
  const time = Buffer.from([0x08, ...varint(seconds), 0x10, ...varint((nowMs - seconds * 1000) * 1e6)]);
  const uuid = Buffer.from(`${node}-${(seq++).toString(16).padStart(12, "0")}`);
  const flow = Buffer.concat([field([0x0a], time), field([0x92, 0x02], uuid), body]);
  return Buffer.concat([field([0x0a], flow), nodeField]);
}

const def = observerService();
const serialize = def.GetFlows.responseSerialize;
const service = { ...def, GetFlows: { ...def.GetFlows, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : serialize(v)) } };

async function startUpstream(index: number): Promise<number> {
  const node = `replay-node-${index}`;
  const bodies = Array.from({ length: 64 }, (_, i) => template(node, i));
  const nodeField = field([0xc2, 0x3e], Buffer.from(node));
  let seen = 0;
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
        const due = rate > 0 ? Math.floor(((Date.now() - started) * rate) / 1000) - sent : 512;
        for (let k = 0; k < due; k++) {
          seen++;
          sent++;
          // A false return means the relay is behind: wait for its drain.
          if (!out.write(flowMessage(node, bodies[sent & 63], nodeField))) return;
        }
        if (rate > 0) setTimeout(pump, 5);
        else setImmediate(pump);
      };
      if (call.request.follow) pump();
      else call.end();
    },
    ServerStatus: (_c: unknown, cb: grpc.sendUnaryData<any>) =>
      cb(null, { num_flows: 0, max_flows: 0, seen_flows: seen, version: "replay", num_connected_nodes: { value: 1 }, num_unavailable_nodes: { value: 0 } }),
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
