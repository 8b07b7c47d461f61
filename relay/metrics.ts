// Prometheus metrics of the relay itself (the agents export flow metrics).
import * as http from "node:http";
import * as client from "prom-client";
import type { FlowHistory } from "./history/store";
import type { PeerSet } from "./peer-set";

export function serveMetrics(address: string, peers: PeerSet, history: FlowHistory | undefined, log: (msg: string) => void): http.Server {
  const registry = new client.Registry();
  new client.Gauge({
    name: "flowlens_relay_peers",
    help: "Upstream peers by state",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of peers.list()) this.inc({ state: p.state });
    },
  });
  if (history) {
    new client.Gauge({
      name: "flowlens_relay_history_bytes",
      help: "Bytes used by stored flow history",
      registers: [registry],
      collect() {
        this.set(history.usedBytes());
      },
    });
  }
  const [host, port] = address.startsWith(":") ? ["0.0.0.0", address.slice(1)] : [address.slice(0, address.lastIndexOf(":")), address.slice(address.lastIndexOf(":") + 1)];
  const server = http.createServer(async (req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end("see /metrics\n");
      return;
    }
    res.writeHead(200, { "Content-Type": registry.contentType }).end(await registry.metrics());
  });
  server.on("error", (err) => log(`metrics server on ${address} failed (${err.message}); pick a free --metrics-address`));
  server.listen(Number(port), host);
  return server;
}
