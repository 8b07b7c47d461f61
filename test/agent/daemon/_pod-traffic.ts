// Traffic of known shape, run inside a test pod (a network namespace plus a
// cgroup). Servers print "listening" once bound; clients exit 0 on success and
// print a JSON summary (e.g. the local port they used).
//   tcp-server PORT REPLY_BYTES         read until the peer half-closes, reply REPLY_BYTES, close
//   tcp-client HOST PORT SEND_BYTES EXPECT_BYTES
//   tcp-refused HOST PORT               connect to a closed port, expect ECONNREFUSED
//   udp-server PORT REPLY_BYTES         answer each datagram with REPLY_BYTES
//   udp-client HOST PORT COUNT SIZE REPLY_BYTES    send COUNT datagrams, wait for each reply
//   udp-blast HOST PORT COUNT SIZE      send COUNT datagrams, expect no reply
//   udp-spray HOST FIRST_PORT COUNT     one datagram to each of COUNT ports, as fast as possible
import * as dgram from "node:dgram";
import * as net from "node:net";

const [mode, ...args] = process.argv.slice(2);
// Clients give up after a while; servers run until the test kills them.
const TIMEOUT_MS = 10_000;
if (!mode.endsWith("-server")) {
  setTimeout(() => {
    process.stderr.write(`${mode}: timed out after ${TIMEOUT_MS} ms\n`);
    process.exit(3);
  }, TIMEOUT_MS).unref();
}

function done(summary: object): void {
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exit(0);
}

function fail(message: string): never {
  process.stderr.write(`${mode}: ${message}\n`);
  process.exit(1);
}

switch (mode) {
  case "tcp-server": {
    const [port, replyBytes] = args.map(Number);
    const server = net.createServer((sock) => {
      let received = 0;
      sock.on("data", (d) => (received += d.length));
      sock.on("end", () => {
        sock.end(Buffer.alloc(replyBytes, 0x61));
        process.stderr.write(`tcp-server: received ${received}\n`);
      });
      sock.on("error", () => undefined);
    });
    server.listen(port, "0.0.0.0", () => process.stdout.write("listening\n"));
    break;
  }
  case "tcp-client": {
    const [host, portText, sendText, expectText] = args;
    let localPort = 0;
    const sock = net.connect(Number(portText), host, () => {
      localPort = sock.localPort!;
      sock.end(Buffer.alloc(Number(sendText), 0x62));
    });
    let received = 0;
    sock.on("data", (d) => (received += d.length));
    sock.on("error", (e) => fail(e.message));
    sock.on("close", () => {
      if (received !== Number(expectText)) fail(`received ${received} bytes, expected ${expectText}`);
      done({ localPort, received });
    });
    break;
  }
  case "tcp-refused": {
    const [host, portText] = args;
    const sock = net.connect(Number(portText), host);
    sock.on("connect", () => fail("connected, expected a refusal"));
    sock.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "ECONNREFUSED") fail(`expected ECONNREFUSED, got ${e.code}`);
      done({});
    });
    break;
  }
  case "udp-server": {
    const [port, replyBytes] = args.map(Number);
    const sock = dgram.createSocket("udp4");
    sock.on("message", (_msg, rinfo) => sock.send(Buffer.alloc(replyBytes, 0x63), rinfo.port, rinfo.address));
    sock.bind(port, "0.0.0.0", () => process.stdout.write("listening\n"));
    break;
  }
  case "udp-client":
  case "udp-blast": {
    const [host, portText, countText, sizeText, replyText] = args;
    const count = Number(countText);
    const sock = dgram.createSocket("udp4");
    let replies = 0;
    let sent = 0;
    const sendNext = () => {
      if (sent === count) {
        if (mode === "udp-blast") setTimeout(() => done({ localPort: sock.address().port, sent }), 200);
        return;
      }
      sent++;
      sock.send(Buffer.alloc(Number(sizeText), 0x64), Number(portText), host, (err) => {
        if (err) fail(err.message);
        if (mode === "udp-blast") setTimeout(sendNext, 20);
      });
    };
    sock.on("message", (msg) => {
      if (msg.length !== Number(replyText)) fail(`reply of ${msg.length} bytes, expected ${replyText}`);
      replies++;
      if (replies === count) done({ localPort: sock.address().port, replies });
      else sendNext();
    });
    sock.on("message", () => {
      if (mode === "udp-blast") fail("got a reply to a datagram that should have been dropped");
    });
    sock.bind(0, "0.0.0.0", sendNext);
    break;
  }
  case "udp-spray": {
    const [host, firstText, countText] = args;
    const sock = dgram.createSocket("udp4");
    const count = Number(countText);
    let sent = 0;
    sock.on("error", () => undefined);
    sock.bind(0, "0.0.0.0", () => {
      for (let i = 0; i < count; i++) {
        sock.send(Buffer.alloc(1), Number(firstText) + i, host, () => {
          if (++sent === count) done({ sent });
        });
      }
    });
    break;
  }
  default:
    fail(`unknown mode; see the header of ${__filename}`);
}
