// The relay's HTTP/2 reader of peers' GetFlows streams, against a real
// node:http2 server on loopback that cuts gRPC messages at arbitrary read
// boundaries (inside prefixes and bodies): every message comes out whole,
// in order, still in its frame.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Http2FlowClient } from "../../relay/http2-flow-client";

function framed(i: number): Buffer {
  const body = Buffer.alloc(i % 300, i & 0xff);
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

let server: http2.Http2Server;
let port = 0;
const MESSAGES = 2000;

beforeAll(async () => {
  const all = Buffer.concat(Array.from({ length: MESSAGES }, (_, i) => framed(i)));
  server = http2.createServer();
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    let pos = 0;
    let cut = 1;
    const next = (): void => {
      if (pos >= all.length) {
        stream.end();
        return;
      }
      cut = (cut * 7 + 3) % 997; // 1-byte cuts up to about a kilobyte
      stream.write(all.subarray(pos, pos + 1 + cut), () => setImmediate(next));
      pos += 1 + cut;
    };
    next();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

test("messages cut across reads come out whole, in order and framed", async () => {
  const client = new Http2FlowClient(`127.0.0.1:${port}`, {});
  try {
    const got: Buffer[] = [];
    const stream = client.openFlows({ follow: false });
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (b: Buffer) => got.push(Buffer.from(b)));
      stream.on("error", reject);
      stream.on("end", resolve);
    });
    expect(got).toHaveLength(MESSAGES);
    got.forEach((b, i) => expect(b.equals(framed(i))).toBe(true));
  } finally {
    client.close();
  }
});
