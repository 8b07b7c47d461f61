// Traffic for relay tests and benches, run inside a test pod. Bounded in count
// and time: a server lives at most MAX_LIFETIME_MS, clients at most 60 s.
//   tcp-server PORT                      answer every connection with 100 bytes, print "listening"
//   tcp-clients HOST PORT COUNT [GAP_MS] COUNT sequential connections, print {"connections": N}
import * as net from "node:net";

const [mode, ...args] = process.argv.slice(2);
const MAX_LIFETIME_MS = 15 * 60_000;

function fail(message: string): never {
  process.stderr.write(`${mode}: ${message}\n`);
  process.exit(1);
}

if (mode === "tcp-server") {
  const port = Number(args[0]);
  setTimeout(() => process.exit(0), MAX_LIFETIME_MS);
  net
    .createServer((sock) => {
      sock.on("data", () => undefined);
      sock.on("end", () => sock.end(Buffer.alloc(100, 0x61)));
      sock.on("error", () => undefined);
    })
    .listen(port, "0.0.0.0", () => process.stdout.write("listening\n"));
} else if (mode === "tcp-clients") {
  const [host, port, count, gap] = [args[0], Number(args[1]), Number(args[2]), Number(args[3] ?? 0)];
  setTimeout(() => fail("timed out after 60 s"), 60_000).unref();
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const sock = net.connect(port, host, () => sock.end(Buffer.alloc(200, 0x62)));
      sock.on("data", () => undefined);
      sock.on("error", reject);
      sock.on("close", () => resolve());
    });
  (async () => {
    for (let i = 0; i < count; i++) {
      await one();
      if (gap) await new Promise((r) => setTimeout(r, gap));
    }
    process.stdout.write(`${JSON.stringify({ connections: count })}\n`);
  })().catch((e: Error) => fail(e.message));
} else {
  fail("usage: tcp-server PORT | tcp-clients HOST PORT COUNT [GAP_MS]");
}
