// The Observer server over real gRPC on loopback, fed from a flow ring.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { run as certs } from "../../../cli/commands/certs";
import { FlowRing } from "../../../agent/daemon/flow-ring";
import { ObserverServer } from "../../../agent/daemon/observer-server";
import { observerClientConstructor } from "../../../proto/load";
import type { Flow, GetFlowsRequest, GetFlowsResponse } from "../../../proto/types";
import { timestampFromMillis } from "../../../proto/types";

const T0 = Date.UTC(2026, 0, 1);

function makeFlow(i: number, over: Partial<Flow> = {}): Flow {
  return {
    uuid: `flow-${i}`,
    time: timestampFromMillis(T0 + i * 1000),
    verdict: i % 2 === 0 ? "FORWARDED" : "DROPPED",
    IP: { source: `198.18.1.${i}`, destination: "198.18.1.200", ipVersion: "IPv4" },
    l4: { TCP: { source_port: 40000 + i, destination_port: 80, flags: { SYN: true } } },
    source: { namespace: "shop", pod_name: `web-${i}` },
    node_name: "n1",
    ...over,
  };
}

function fill(ring: FlowRing, n: number): void {
  for (let i = 1; i <= n; i++) ring.push({ entry: { flow: makeFlow(i) }, timeMs: T0 + i * 1000 });
}

type Client = grpc.Client & Record<string, any>;

function collect(client: Client, req: GetFlowsRequest): Promise<GetFlowsResponse[]> {
  return new Promise((resolve, reject) => {
    const out: GetFlowsResponse[] = [];
    const call = client.GetFlows(req);
    call.on("data", (r: GetFlowsResponse) => out.push(r));
    call.on("error", reject);
    call.on("end", () => resolve(out));
  });
}

const uuids = (rs: GetFlowsResponse[]) => rs.map((r) => r.flow?.uuid ?? `lost:${r.lost_events?.num_events_lost}`);

describe("Observer server", () => {
  const ring = new FlowRing(100);
  const server = new ObserverServer({ ring, nodeName: "n1", version: "flowlens-agent test", flowsRate: () => 12.5 });
  let client: Client;

  beforeAll(async () => {
    fill(ring, 10);
    const port = await server.listen("127.0.0.1:0");
    client = new (observerClientConstructor())(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as Client;
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });

  test("without number, all flows come oldest first with node name and time", async () => {
    const rs = await collect(client, {});
    expect(uuids(rs)).toEqual(Array.from({ length: 10 }, (_, i) => `flow-${i + 1}`));
    expect(rs[0]).toMatchObject({ node_name: "n1", time: { seconds: (T0 + 1000) / 1000 } });
    expect(rs[0].flow).toMatchObject({ verdict: "DROPPED", l4: { TCP: { flags: { SYN: true } } } });
  });

  test("number picks the newest, or the oldest with first", async () => {
    expect(uuids(await collect(client, { number: 3 }))).toEqual(["flow-8", "flow-9", "flow-10"]);
    expect(uuids(await collect(client, { number: 3, first: true }))).toEqual(["flow-1", "flow-2", "flow-3"]);
  });

  test("since and until bound the window, and filters apply inside it", async () => {
    const since = timestampFromMillis(T0 + 3000);
    const until = timestampFromMillis(T0 + 7000);
    expect(uuids(await collect(client, { since, until }))).toEqual(["flow-3", "flow-4", "flow-5", "flow-6", "flow-7"]);
    expect(uuids(await collect(client, { since, until, whitelist: [{ verdict: ["FORWARDED"] }] }))).toEqual(["flow-4", "flow-6"]);
    // Pod filters are prefixes: "shop/web-1" also excludes web-10.
    expect(uuids(await collect(client, { since, number: 2, blacklist: [{ source_pod: ["shop/web-1"] }] }))).toEqual(["flow-8", "flow-9"]);
  });

  test("until before since is INVALID_ARGUMENT", async () => {
    const err = await collect(client, { since: timestampFromMillis(T0 + 5000), until: timestampFromMillis(T0) }).catch((e) => e);
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/until .* is before since/);
  });

  test("a malformed filter is INVALID_ARGUMENT naming the field", async () => {
    const err = await collect(client, { whitelist: [{ destination_port: ["http"] }] }).catch((e) => e);
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain('whitelist[0].destination_port[0] = "http"');
  });

  test("follow streams new flows and lost-event notices until cancelled", async () => {
    const call = client.GetFlows({ follow: true, whitelist: [{ source_ip: ["198.18.1.0/24"] }] });
    const got: GetFlowsResponse[] = [];
    const done = new Promise<void>((resolve) => {
      call.on("data", (r: GetFlowsResponse) => {
        got.push(r);
        if (got.length === 3) resolve();
      });
      call.on("error", () => undefined);
    });
    await new Promise((r) => setTimeout(r, 100));
    ring.push({ entry: { flow: makeFlow(11, { IP: { source: "10.0.0.1", destination: "10.0.0.2" } }) }, timeMs: Date.now() });
    ring.push({ entry: { flow: makeFlow(12) }, timeMs: Date.now() });
    ring.push({ lost: { source: "PERF_EVENT_RING_BUFFER", num_events_lost: 42 }, timeMs: Date.now() });
    ring.push({ entry: { flow: makeFlow(13) }, timeMs: Date.now() });
    await done;
    call.cancel();
    // Follow without number or since starts at "now": no history; the notice passes any filter.
    expect(uuids(got)).toEqual(["flow-12", "lost:42", "flow-13"]);
    expect(got[1].lost_events).toMatchObject({ source: "PERF_EVENT_RING_BUFFER", num_events_lost: 42 });
  });

  test("follow with until ends the stream on its own", async () => {
    const start = Date.now();
    const rs = await collect(client, { follow: true, number: 1, until: timestampFromMillis(Date.now() + 300) });
    expect(rs).toHaveLength(1);
    expect(Date.now() - start).toBeGreaterThanOrEqual(250);
  });

  test("ServerStatus and GetNodes report the ring", async () => {
    const status = await new Promise<any>((res, rej) => client.ServerStatus({}, (e: Error, r: unknown) => (e ? rej(e) : res(r))));
    expect(status).toMatchObject({ num_flows: ring.size, max_flows: 100, seen_flows: ring.seenFlows, flows_rate: 12.5, version: "flowlens-agent test", num_connected_nodes: { value: 1 } });
    expect(status.uptime_ns).toBeGreaterThan(0);
    const nodes = await new Promise<any>((res, rej) => client.GetNodes({}, (e: Error, r: unknown) => (e ? rej(e) : res(r))));
    expect(nodes.nodes).toEqual([expect.objectContaining({ name: "n1", state: "NODE_CONNECTED", max_flows: 100, tls: expect.anything() })]);
  });
});

describe("Observer server with mTLS", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-mtls-"));
  const ring = new FlowRing(10);
  let server: ObserverServer;
  let port = 0;
  const read = (p: string) => fs.readFileSync(path.join(dir, p));

  beforeAll(async () => {
    const quiet = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      expect(await certs(["--out", dir])).toBe(0);
    } finally {
      quiet.mockRestore();
    }
    fill(ring, 2);
    server = new ObserverServer({ ring, nodeName: "n1", version: "v", flowsRate: () => 0, tls: { cert: read("server/tls.crt"), key: read("server/tls.key"), clientCa: read("ca/ca.crt") } });
    port = await server.listen("127.0.0.1:0");
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("a client with a certificate from the CA is served", async () => {
    const creds = grpc.credentials.createSsl(read("ca/ca.crt"), read("client/tls.key"), read("client/tls.crt"));
    const client = new (observerClientConstructor())(`localhost:${port}`, creds) as Client;
    try {
      expect(uuids(await collect(client, {}))).toEqual(["flow-1", "flow-2"]);
    } finally {
      client.close();
    }
  });

  test("a client without a certificate is turned away", async () => {
    const client = new (observerClientConstructor())(`localhost:${port}`, grpc.credentials.createSsl(read("ca/ca.crt"))) as Client;
    try {
      const err = await collect(client, {}).catch((e) => e);
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      client.close();
    }
  });
});
