// The real agent on a client behind a NAT'ing router (test/agent/kernel/nat-router.ts): flows read over
// gRPC carry the translated source on the masqueraded connection's egress flows, and only there.
import type { Flow } from "../../../proto/types";
import { CLIENT_IP, MASQUERADED_IP, NatRouter, NO_SNAT_IP, ROUTER_OUTER_IP } from "../kernel/nat-router";
import { getFlows, observerClient, startAgent, stopAgent, waitReady, type ObserverClient, type RunningAgent } from "./_agent-process";

/** A real agent observing the NAT router's client, reporting flushes every 500 ms. */
async function startNatAgent(net: NatRouter, extra: string[]): Promise<RunningAgent> {
  const agent = await startAgent([
    "--node-name", `node-${net.suffix}`,
    "--listen-address", "127.0.0.1:0",
    "--metrics-address", "127.0.0.1:0",
    "--cgroup-root", net.cgroupRoot,
    "--egress-nat-netns", `/run/netns/${net.router}`,
    "--flush-interval", "500ms",
    ...extra,
  ]);
  await waitReady(agent);
  return agent;
}

describe("flowlens agent on egress NAT", () => {
  let net: NatRouter;
  let agent: RunningAgent | undefined;
  let observer: ObserverClient | undefined;
  let flows: Flow[] = [];

  beforeAll(async () => {
    net = new NatRouter();
    agent = await startNatAgent(net, ["--ring-capacity", "4096"]);
    observer = observerClient(agent.grpcPort);
    for (const dst of [MASQUERADED_IP, NO_SNAT_IP]) {
      const server = await net.serverTraffic(["tcp-server", dst, 5201, 300, 700]);
      const exited = new Promise((r) => server.on("exit", r));
      net.clientTraffic(["tcp-client", dst, 5201, 300, 700]);
      await exited;
    }
    // Two flush intervals: the final counters and the closes have been reported.
    await new Promise((r) => setTimeout(r, 1500));
    flows = (await getFlows(observer, { whitelist: [{ source_ip: [CLIENT_IP] }, { destination_ip: [CLIENT_IP] }] })).map((r) => r.flow!).filter(Boolean);
  }, 60_000);

  afterAll(async () => {
    observer?.close();
    if (agent) await stopAgent(agent);
    await net?.destroy();
  });

  const egressFrom = (dst: string) => flows.filter((f) => f.IP?.source === CLIENT_IP && f.IP?.destination === dst && (f.l4?.TCP?.source_port ?? 0) !== 0);

  test("every egress flow of the masqueraded connection, the SYN before the binding included, shows the router's address", () => {
    const egress = egressFrom(MASQUERADED_IP);
    const events = new Set(egress.map((f) => f.flowlens?.event));
    expect([...events].sort()).toEqual(expect.arrayContaining(["flow_start", "flush", "sock_close", "sock_established", "tcp_flags"]));
    for (const f of egress) expect([f.flowlens?.event, f.IP?.source_xlated, f.flowlens?.source_xlated]).toEqual([f.flowlens?.event, ROUTER_OUTER_IP, ROUTER_OUTER_IP]);
  });

  test("replies and the connection to the destination excluded from SNAT carry none", () => {
    const replies = flows.filter((f) => f.IP?.source === MASQUERADED_IP);
    expect(replies.length).toBeGreaterThan(0);
    const untranslated = egressFrom(NO_SNAT_IP);
    expect(untranslated.length).toBeGreaterThan(0);
    expect([...replies, ...untranslated].filter((f) => f.IP?.source_xlated || f.flowlens?.source_xlated)).toEqual([]);
  });
});

describe("flowlens agent with --no-egress-nat", () => {
  let net: NatRouter;
  let agent: RunningAgent | undefined;
  let observer: ObserverClient | undefined;

  beforeAll(async () => {
    net = new NatRouter();
    agent = await startNatAgent(net, ["--no-egress-nat"]);
    observer = observerClient(agent.grpcPort);
  }, 60_000);

  afterAll(async () => {
    observer?.close();
    if (agent) await stopAgent(agent);
    await net?.destroy();
  });

  test("still reports the masqueraded connection, without a translated source", async () => {
    const server = await net.serverTraffic(["tcp-server", MASQUERADED_IP, 5201, 300, 700]);
    const exited = new Promise((r) => server.on("exit", r));
    net.clientTraffic(["tcp-client", MASQUERADED_IP, 5201, 300, 700]);
    await exited;
    await new Promise((r) => setTimeout(r, 1500));
    const flows = (await getFlows(observer!, { whitelist: [{ source_ip: [CLIENT_IP] }] })).map((r) => r.flow!).filter(Boolean);
    const egress = flows.filter((f) => f.IP?.destination === MASQUERADED_IP);
    expect(egress.map((f) => f.flowlens?.event)).toEqual(expect.arrayContaining(["flow_start", "sock_close"]));
    expect(egress.filter((f) => f.IP?.source_xlated || f.flowlens?.source_xlated)).toEqual([]);
  }, 60_000);
});
