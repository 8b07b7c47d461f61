// Steady traffic from a test pod for the UI tests: every INTERVAL_MS, one TCP
// exchange with each tcp target and one datagram to each udp target, for at
// most DURATION_S seconds (then it exits by itself).
//   _pod-load.ts DURATION_S INTERVAL_MS tcp:HOST:PORT|udp:HOST:PORT ...
import * as dgram from "node:dgram";
import * as net from "node:net";

const [durationText, intervalText, ...targets] = process.argv.slice(2);
const deadline = Date.now() + Number(durationText) * 1000;
const udp = dgram.createSocket("udp4");

function tcpExchange(host: string, port: number): void {
  const sock = net.connect(port, host, () => sock.end(Buffer.alloc(600, 0x61)));
  sock.on("data", () => undefined);
  sock.on("error", () => undefined);
}

function tick(): void {
  if (Date.now() > deadline) {
    udp.close();
    process.exit(0);
  }
  for (const t of targets) {
    const [kind, host, port] = t.split(":");
    if (kind === "tcp") tcpExchange(host, Number(port));
    else udp.send(Buffer.alloc(120, 0x62), Number(port), host, () => undefined);
  }
}

process.stdout.write("listening\n");
setInterval(tick, Number(intervalText));
tick();
