import { Counter, Registry } from "prom-client";
import { MetricsServer, parseHostPort } from "../../../agent/daemon/metrics-server";
import { httpGet } from "./_agent-process";

describe("metrics and health endpoint", () => {
  const registry = new Registry();
  new Counter({ name: "hubble_flows_processed_total", help: "h", labelNames: ["type"], registers: [registry] }).inc({ type: "Trace" }, 3);
  let reasons = ["BPF programs not attached yet", "enrichment has not completed its first sync"];
  const server = new MetricsServer(registry, { notReady: () => reasons });
  let port = 0;

  beforeAll(async () => {
    port = await server.listen("127.0.0.1:0");
  });
  afterAll(() => server.close());

  test("serves the registry in the Prometheus text format", async () => {
    const res = await httpGet(port, "/metrics");
    expect(res.status).toBe(200);
    expect(res.body).toContain('hubble_flows_processed_total{type="Trace"} 3');
  });

  test("readyz says why the agent is not ready, then turns ready; healthz is always ok", async () => {
    expect(await httpGet(port, "/readyz")).toEqual({ status: 503, body: "not ready: BPF programs not attached yet; enrichment has not completed its first sync\n" });
    expect((await httpGet(port, "/healthz")).status).toBe(200);
    reasons = [];
    expect(await httpGet(port, "/readyz")).toEqual({ status: 200, body: "ready\n" });
  });

  test("unknown paths get a 404 that lists the endpoints", async () => {
    const res = await httpGet(port, "/nope");
    expect(res.status).toBe(404);
    expect(res.body).toContain("/metrics, /healthz or /readyz");
  });

  test("listen addresses", () => {
    expect(parseHostPort(":9965", "--metrics-address")).toEqual({ host: "0.0.0.0", port: 9965 });
    expect(parseHostPort("[::1]:9965", "--metrics-address")).toEqual({ host: "::1", port: 9965 });
    expect(() => parseHostPort("9965", "--metrics-address")).toThrow(/--metrics-address "9965": expected host:port/);
  });

  test("a port already in use is reported with the flag to change", async () => {
    const other = new MetricsServer(registry, { notReady: () => [] });
    await expect(other.listen(`127.0.0.1:${port}`)).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+ .*--metrics-address/);
  });
});
