/**
 * Egress NAT seen by the real kernel programs: a client in the observed cgroup connects through a router
 * namespace that masquerades one destination and not another (nat-router.ts). Every NAT source: conntrack's
 * events in the router's namespace (the default), a netfilter program after source NAT there, and the
 * net_dev_queue tracepoint.
 */
import { execFileSync } from "node:child_process";
import { KernelCapture } from "../../../agent/kernel/capture";
import { IPPROTO_TCP, IPPROTO_UDP, type KernelRecord } from "../../../agent/kernel/record";
import { RecordLog } from "./helpers";
import { CLIENT_IP, MASQUERADED_IP, NatRouter, NO_SNAT_IP, ROUTER_OUTER_IP } from "./nat-router";

describe.each([
  { hook: "conntrack" as const, port: 5090 },
  { hook: "netfilter" as const, port: 5100 },
  { hook: "tracepoint" as const, port: 5110 },
])("KernelCapture on egress NAT, $hook hook", ({ hook, port }) => {
  let net: NatRouter;
  let capture: KernelCapture;
  let log: RecordLog;

  beforeAll(() => {
    net = new NatRouter();
    capture = KernelCapture.open({ cgroupRoot: net.cgroupRoot, flushIntervalMs: 60_000, egressNatNetns: [`/run/netns/${net.router}`], egressNatHook: hook });
    log = new RecordLog(capture);
  });

  test(`the capture reads NAT bindings from the ${hook} hook`, () => {
    expect(capture.natHook).toBe(hook);
  });

  afterAll(async () => {
    capture?.close();
    await net?.destroy();
  });

  const natTo = (dst: string, dport: number) => (r: KernelRecord) => r.kind === "nat" && r.dstAddr === dst && r.dstPort === dport;

  test("a masqueraded TCP connection yields one nat record: original tuple and the router's address", async () => {
    const server = await net.serverTraffic(["tcp-server", MASQUERADED_IP, port + 1, 100, 200]);
    const serverExit = new Promise((r) => server.on("exit", r));
    net.clientTraffic(["tcp-client", MASQUERADED_IP, port + 1, 100, 200]);
    await serverExit;

    const [syn] = await log.waitFor("client SYN", (r) => r.kind === "flow_start" && r.dstAddr === MASQUERADED_IP && r.dstPort === port + 1 && r.direction === "egress");
    const nat = await log.waitFor("nat record", natTo(MASQUERADED_IP, port + 1));
    expect(nat).toHaveLength(1);
    expect(nat[0]).toMatchObject({
      hook: "nat",
      protocol: IPPROTO_TCP,
      family: 4,
      direction: "egress",
      srcAddr: CLIENT_IP,
      srcPort: syn.srcPort,
      xlatedSrcAddr: ROUTER_OUTER_IP,
      cgroupId: 0n,
      bytesAcked: 0,
    });
    expect(nat[0].xlatedSrcPort).toBeGreaterThan(0);
    expect(nat[0].netnsIno).toBeGreaterThan(0);
    // The binding is made on the path out of the router, after the client's socket and first packet were seen.
    expect(log.records.indexOf(nat[0])).toBeGreaterThan(log.records.indexOf(syn));
  });

  test("UDP to a masqueraded destination is reported once per connection, not per datagram", async () => {
    const server = await net.serverTraffic(["udp-server", MASQUERADED_IP, port + 2, 5]);
    const serverExit = new Promise((r) => server.on("exit", r));
    net.clientTraffic(["udp-send", MASQUERADED_IP, port + 2, 64, 5]);
    await serverExit;
    const nat = await log.waitFor("UDP nat record", natTo(MASQUERADED_IP, port + 2));
    expect(nat).toHaveLength(1);
    expect(nat[0]).toMatchObject({ protocol: IPPROTO_UDP, srcAddr: CLIENT_IP, xlatedSrcAddr: ROUTER_OUTER_IP });
  });

  test("a destination excluded from SNAT yields no nat record", async () => {
    const server = await net.serverTraffic(["tcp-server", NO_SNAT_IP, port + 3, 100, 200]);
    const serverExit = new Promise((r) => server.on("exit", r));
    net.clientTraffic(["tcp-client", NO_SNAT_IP, port + 3, 100, 200]);
    await serverExit;
    await log.waitFor("client close", (r) => r.kind === "sock_close" && r.dstAddr === NO_SNAT_IP && r.dstPort === port + 3);
    // The masqueraded connection's record is there, so the program is running; none for this one.
    expect(log.records.filter(natTo(MASQUERADED_IP, port + 1))).toHaveLength(1);
    expect(log.records.filter((r) => r.kind === "nat" && r.dstAddr === NO_SNAT_IP)).toHaveLength(0);
  });
});

describe("choosing where NAT is read", () => {
  let net: NatRouter | undefined;
  let capture: KernelCapture | undefined;

  afterEach(async () => {
    capture?.close();
    capture = undefined;
    await net?.destroy();
    net = undefined;
  });

  test("by default conntrack events; in a namespace where nothing is translated (the client's), no binding", async () => {
    net = new NatRouter();
    capture = KernelCapture.open({ cgroupRoot: net.cgroupRoot, flushIntervalMs: 60_000, egressNatNetns: [`/run/netns/${net.client}`] });
    const log = new RecordLog(capture);
    expect(capture.natHook).toBe("conntrack");
    const server = await net.serverTraffic(["tcp-server", MASQUERADED_IP, 5121, 100, 200]);
    const serverExit = new Promise((r) => server.on("exit", r));
    net.clientTraffic(["tcp-client", MASQUERADED_IP, 5121, 100, 200]);
    await serverExit;
    await log.waitFor("client close", (r) => r.kind === "sock_close" && r.dstAddr === MASQUERADED_IP && r.dstPort === 5121);
    expect(log.records.filter((r) => r.kind === "nat")).toEqual([]);
  });

  test("two captures in one namespace both hook netfilter (the kernel takes one link per priority)", () => {
    net = new NatRouter();
    const ns = [`/run/netns/${net.router}`];
    capture = KernelCapture.open({ cgroupRoot: net.cgroupRoot, egressNatNetns: ns, egressNatHook: "netfilter" });
    const second = KernelCapture.open({ cgroupRoot: net.cgroupRoot, egressNatNetns: ns, egressNatHook: "netfilter" });
    try {
      expect([capture.natHook, second.natHook]).toEqual(["netfilter", "netfilter"]);
    } finally {
      second.close();
    }
  });

  test.each(["auto", "conntrack", "netfilter"] as const)("a namespace path that does not exist is an error naming it (%s)", (hook) => {
    net = new NatRouter();
    expect(() => KernelCapture.open({ cgroupRoot: net!.cgroupRoot, egressNatNetns: ["/run/netns/flowlens-no-such-ns"], egressNatHook: hook })).toThrow(
      "cannot open network namespace /run/netns/flowlens-no-such-ns (No such file or directory)",
    );
  });

  test("where conntrack events are off, conntrack is an error saying so and auto takes the netfilter hook", () => {
    net = new NatRouter();
    execFileSync("ip", ["netns", "exec", net.router, "sysctl", "-qw", "net.netfilter.nf_conntrack_events=0"]);
    const ns = [`/run/netns/${net.router}`];
    expect(() => KernelCapture.open({ cgroupRoot: net!.cgroupRoot, egressNatNetns: ns, egressNatHook: "conntrack" })).toThrow(
      `reading egress NAT from conntrack events in /run/netns/${net.router} failed: conntrack events are off there (net.netfilter.nf_conntrack_events is 0; set it to 1 or 2)`,
    );
    capture = KernelCapture.open({ cgroupRoot: net.cgroupRoot, egressNatNetns: ns });
    expect(capture.natHook).toBe("netfilter");
  });

  test("conntrack events cost the packet path nothing: no program is attached for them", () => {
    net = new NatRouter();
    const ns = [`/run/netns/${net.router}`];
    const withEvents = KernelCapture.open({ cgroupRoot: net.cgroupRoot, egressNatNetns: ns, egressNatHook: "conntrack" });
    const without = KernelCapture.open({ cgroupRoot: net.cgroupRoot, egressNat: false });
    try {
      expect(withEvents.attachmentCount()).toBe(without.attachmentCount());
    } finally {
      withEvents.close();
      without.close();
    }
  });
});
