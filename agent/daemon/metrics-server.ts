// HTTP endpoint for Prometheus (/metrics) and the kubelet's probes: /healthz
// answers while the process serves, /readyz once the kernel programs are
// attached and enrichment has its first complete view.
import * as http from "node:http";
import type { Registry } from "prom-client";

export interface Readiness {
  /** Reasons the agent is not ready yet; empty when ready. */
  notReady(): string[];
}

export function parseHostPort(listen: string, flag: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`${flag} "${listen}": expected host:port or :port, e.g. :9965`);
  const host = m[1].replace(/^\[(.*)\]$/, "$1");
  return { host: host === "" ? "0.0.0.0" : host, port };
}

export class MetricsServer {
  private readonly server: http.Server;

  constructor(registry: Registry, readiness: Readiness) {
    this.server = http.createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { Allow: "GET, HEAD" }).end();
        return;
      }
      if (path === "/metrics") {
        registry.metrics().then(
          (body) => res.writeHead(200, { "Content-Type": registry.contentType }).end(body),
          (err: Error) => res.writeHead(500, { "Content-Type": "text/plain" }).end(`metrics: ${err.message}\n`),
        );
      } else if (path === "/healthz") {
        res.writeHead(200, { "Content-Type": "text/plain" }).end("ok\n");
      } else if (path === "/readyz") {
        const reasons = readiness.notReady();
        res.writeHead(reasons.length === 0 ? 200 : 503, { "Content-Type": "text/plain" }).end(reasons.length === 0 ? "ready\n" : `not ready: ${reasons.join("; ")}\n`);
      } else {
        res.writeHead(404, { "Content-Type": "text/plain" }).end("not found: try /metrics, /healthz or /readyz\n");
      }
    });
  }

  listen(listen: string): Promise<number> {
    const { host, port } = parseHostPort(listen, "--metrics-address");
    return new Promise((resolve, reject) => {
      this.server.once("error", (err) => reject(new Error(`metrics server: cannot listen on ${listen} (${err.message}); pick a free --metrics-address`)));
      this.server.listen(port, host, () => resolve((this.server.address() as { port: number }).port));
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
