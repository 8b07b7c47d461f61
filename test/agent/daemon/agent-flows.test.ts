// The real agent, attached to a test node's cgroup, sees traffic of known
// shape between test pods and serves it over gRPC and Prometheus.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { execFileSync, type ChildProcess } from "node:child_process";
import type { Flow, GetFlowsResponse } from "../../../proto/types";
import { TestNode, type TestPod } from "./_test-node";
import { getFlows, httpGet, observerClient, startAgent, stopAgent, unary, waitReady, type ObserverClient, type RunningAgent } from "./_agent-process";

const TCP_PORT = 8080;
const UDP_PORT = 7000;
const DROPPED_UDP_PORT = 9999;
const CLOSED_PORT = 9;
const TCP_SEND = 1000;
const TCP_REPLY = 3000;
const UDP_COUNT = 5;
const UDP_SIZE = 200;
const UDP_REPLY = 100;
const DROP_COUNT = 3;
const DROP_SIZE = 50;
const PING_COUNT = 3;
// Bytes are L3 lengths: 20 (IPv4) + 8 (UDP) per datagram; TCP segments carry 32 bytes of header
// with timestamps, SYN and SYN-ACK 40 (options), so a TCP flow's bytes are payload + 52 * packets + 8.
const IPV4_UDP_HEADERS = 28;
const ICMP_ECHO_BYTES = 84;

const node = new TestNode();
let client: TestPod;
let server: TestPod;
let agent: RunningAgent | undefined;
let observer: ObserverClient | undefined;
let tmpDir = "";
const namespace = `fl-${node.suffix}`;
const servers: ChildProcess[] = [];
let tcpClientPort = 0;
let udpClientPort = 0;
let all: Flow[] = [];

function flowsOf(responses: GetFlowsResponse[]): Flow[] {
  return responses.filter((r) => r.flow).map((r) => r.flow!);
}

function ports(f: Flow): [number, number] {
  const p = f.l4?.TCP ?? f.l4?.UDP;
  return [p?.source_port ?? 0, p?.destination_port ?? 0];
}

/** Packet records (flow start, flags, flush) of one direction of one flow, as seen by one pod's hook. */
function packetRecords(match: { src: string; dst: string; sport?: number; dport?: number; proto: "TCP" | "UDP" | "ICMPv4"; seenBy: "source" | "destination" }): Flow[] {
  return all.filter((f) => {
    if (!["flow_start", "tcp_flags", "flush"].includes(f.flowlens?.event ?? "")) return false;
    if (f.IP?.source !== match.src || f.IP?.destination !== match.dst || !f.l4?.[match.proto]) return false;
    const [sp, dp] = ports(f);
    if (match.sport !== undefined && sp !== match.sport) return false;
    if (match.dport !== undefined && dp !== match.dport) return false;
    // The local pod's hook saw it: egress for the sender, ingress for the receiver.
    const localIsSource = (f.event_type?.sub_type ?? 0) === 5;
    return match.seenBy === "source" ? localIsSource : !localIsSource;
  });
}

function latest(records: Flow[]): Flow {
  expect(records.length).toBeGreaterThan(0);
  return records.reduce((a, b) => ((b.flowlens?.packets ?? 0) >= (a.flowlens?.packets ?? 0) ? b : a));
}

function tcpHeaderBytes(packets: number): number {
  return 52 * packets + 8;
}

beforeAll(async () => {
  try {
    node.create();
    client = node.addPod("client-a", "198.18.1.10");
    server = node.addPod("server-b", "198.18.1.20");
    node.nft(server, `table inet fltest${node.suffix} {\n chain input {\n  type filter hook input priority 0;\n  udp dport ${DROPPED_UDP_PORT} drop\n }\n}\n`);
    servers.push(await node.startServer(server, ["tcp-server", TCP_PORT, TCP_REPLY]));
    servers.push(await node.startServer(server, ["udp-server", UDP_PORT, UDP_REPLY]));

    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-agent-"));
    const metadataFile = path.join(tmpDir, "pods.json");
    fs.writeFileSync(
      metadataFile,
      JSON.stringify({
        pods: [
          { namespace, name: client.name, node: node.netns, labels: { app: "client", tier: "front" }, workload: { name: "client", kind: "Deployment" }, ips: [client.ip], cgroupPath: client.cgroupDir },
          { namespace, name: server.name, node: node.netns, labels: { app: "server" }, workload: { name: "server", kind: "StatefulSet" }, ips: [server.ip], cgroupPath: server.cgroupDir },
        ],
        services: [{ namespace, name: "server", clusterIPs: ["198.18.1.200"], ports: [{ port: TCP_PORT, protocol: "TCP" }], selector: { app: "server" } }],
      }),
    );
    agent = await startAgent([
      "--node-name", `node-${node.suffix}`,
      "--listen-address", "127.0.0.1:0",
      "--metrics-address", "127.0.0.1:0",
      "--cgroup-root", node.cgroupDir,
      "--metadata-file", metadataFile,
      "--flush-interval", "500ms",
      "--ring-capacity", "4096",
    ]);
    await waitReady(agent);
    observer = observerClient(agent.grpcPort);

    tcpClientPort = (await node.traffic(client, ["tcp-client", server.ip, TCP_PORT, TCP_SEND, TCP_REPLY])).localPort;
    udpClientPort = (await node.traffic(client, ["udp-client", server.ip, UDP_PORT, UDP_COUNT, UDP_SIZE, UDP_REPLY])).localPort;
    await node.traffic(client, ["tcp-refused", server.ip, CLOSED_PORT]);
    await node.traffic(client, ["udp-blast", server.ip, DROPPED_UDP_PORT, DROP_COUNT, DROP_SIZE]);
    await node.run(client, ["ping", "-c", String(PING_COUNT), "-i", "0.2", "-W", "1", server.ip]);
    // Two flush intervals: every flow's final counters have been reported.
    await new Promise((r) => setTimeout(r, 1500));
    all = flowsOf(await getFlows(observer, { whitelist: [{ source_pod: [`${namespace}/`] }, { destination_pod: [`${namespace}/`] }] }));
    if (process.env.FLOWLENS_TEST_DUMP) fs.writeFileSync(process.env.FLOWLENS_TEST_DUMP, JSON.stringify(all, null, 1));
  } catch (e) {
    if (agent) process.stderr.write(`agent stderr:\n${agent.stderr()}\n`);
    throw e;
  }
}, 120_000);

afterAll(async () => {
  observer?.close();
  try {
    if (agent) await stopAgent(agent);
  } finally {
    await node.destroy();
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}, 60_000);

describe("flowlens agent on a test node", () => {
  test("a TCP exchange yields four directional flows with exact bytes, flags, pods and reply status", () => {
    const request = { src: client.ip, dst: server.ip, sport: tcpClientPort, dport: TCP_PORT, proto: "TCP" as const };
    const reply = { src: server.ip, dst: client.ip, sport: TCP_PORT, dport: tcpClientPort, proto: "TCP" as const };
    const cases = [
      { m: { ...request, seenBy: "source" as const }, payload: TCP_SEND, direction: "EGRESS", isReply: false, start: { SYN: true } },
      { m: { ...request, seenBy: "destination" as const }, payload: TCP_SEND, direction: "INGRESS", isReply: false, start: { SYN: true } },
      { m: { ...reply, seenBy: "source" as const }, payload: TCP_REPLY, direction: "INGRESS", isReply: true, start: { SYN: true, ACK: true } },
      { m: { ...reply, seenBy: "destination" as const }, payload: TCP_REPLY, direction: "EGRESS", isReply: true, start: { SYN: true, ACK: true } },
    ];
    for (const c of cases) {
      const records = packetRecords(c.m);
      const starts = records.filter((f) => f.flowlens?.event === "flow_start");
      expect(starts).toHaveLength(1);
      expect(starts[0].l4?.TCP?.flags).toEqual(c.start);
      const final = latest(records);
      const packets = final.flowlens!.packets!;
      expect(packets).toBeGreaterThanOrEqual(3);
      expect(final.flowlens!.bytes).toBe(c.payload + tcpHeaderBytes(packets));
      expect(final.l4?.TCP?.flags).toEqual({ SYN: true, ACK: true, PSH: true, FIN: true });
      expect(records.some((f) => f.flowlens?.event === "tcp_flags" && f.l4?.TCP?.flags?.FIN)).toBe(true);
      for (const f of records) {
        expect(f.verdict).toBe("FORWARDED");
        expect(f.traffic_direction).toBe(c.direction);
        expect(f.is_reply).toEqual({ value: c.isReply });
        expect(f.node_name).toBe(`node-${node.suffix}`);
        expect(f.Type).toBe("L3_L4");
        expect(f.uuid).toMatch(/^[0-9a-f-]{36}$/);
      }
      const [src, dst] = c.isReply ? [server, client] : [client, server];
      expect(final.source).toMatchObject({ namespace, pod_name: src.name });
      expect(final.destination).toMatchObject({ namespace, pod_name: dst.name });
    }
    const clientFlow = latest(packetRecords({ ...request, seenBy: "source" }));
    expect(clientFlow.source).toEqual({ namespace, pod_name: client.name, labels: ["app=client", "tier=front"], workloads: [{ name: "client", kind: "Deployment" }] });
    expect(clientFlow.destination?.workloads).toEqual([{ name: "server", kind: "StatefulSet" }]);
    expect(clientFlow.IP).toEqual({ source: client.ip, destination: server.ip, ipVersion: "IPv4" });
  });

  test("socket records report bytes, smoothed RTT and connect latency for both ends", () => {
    const sock = (event: string, local: TestPod, localPort: number) =>
      all.filter((f) => f.flowlens?.event === event && f.IP?.source === local.ip && ports(f)[0] === localPort && f.l4?.TCP);
    const clientClose = sock("sock_close", client, tcpClientPort);
    const serverClose = sock("sock_close", server, TCP_PORT).filter((f) => ports(f)[1] === tcpClientPort);
    expect(clientClose).toHaveLength(1);
    expect(serverClose).toHaveLength(1);
    // The kernel counts sequence space: the client's SYN and FIN are acknowledged, each side receives one FIN.
    expect(clientClose[0].flowlens).toMatchObject({ bytes_sent: TCP_SEND + 2, bytes_received: TCP_REPLY + 1 });
    expect(serverClose[0].flowlens).toMatchObject({ bytes_sent: TCP_REPLY + 1, bytes_received: TCP_SEND + 1 });
    for (const f of [clientClose[0], serverClose[0]]) {
      expect(f.flowlens!.srtt_us).toBeGreaterThan(0);
      expect(f.flowlens!.srtt_us).toBeLessThan(1_000_000);
    }
    expect(clientClose[0]).toMatchObject({ traffic_direction: "EGRESS", is_reply: { value: false }, source: { pod_name: client.name }, destination: { pod_name: server.name } });
    expect(serverClose[0]).toMatchObject({ traffic_direction: "INGRESS", is_reply: { value: true }, source: { pod_name: server.name }, destination: { pod_name: client.name } });
    const established = sock("sock_established", client, tcpClientPort);
    expect(established).toHaveLength(1);
    expect(established[0].flowlens!.connect_latency_ns).toBeGreaterThan(0);
  });

  test("a UDP exchange yields exact packet and byte counts in both directions", () => {
    const request = { src: client.ip, dst: server.ip, sport: udpClientPort, dport: UDP_PORT, proto: "UDP" as const };
    const reply = { src: server.ip, dst: client.ip, sport: UDP_PORT, dport: udpClientPort, proto: "UDP" as const };
    const expectations = [
      { m: { ...request, seenBy: "source" as const }, bytes: UDP_SIZE, isReply: false, direction: "EGRESS" },
      { m: { ...request, seenBy: "destination" as const }, bytes: UDP_SIZE, isReply: false, direction: "INGRESS" },
      { m: { ...reply, seenBy: "source" as const }, bytes: UDP_REPLY, isReply: true, direction: "INGRESS" },
      { m: { ...reply, seenBy: "destination" as const }, bytes: UDP_REPLY, isReply: true, direction: "EGRESS" },
    ];
    for (const e of expectations) {
      const records = packetRecords(e.m);
      expect(records.filter((f) => f.flowlens?.event === "flow_start")).toHaveLength(1);
      const final = latest(records);
      expect(final.flowlens).toMatchObject({ packets: UDP_COUNT, bytes: UDP_COUNT * (e.bytes + IPV4_UDP_HEADERS) });
      expect(final).toMatchObject({ verdict: "FORWARDED", traffic_direction: e.direction, is_reply: { value: e.isReply } });
    }
  });

  test("a ping yields echo requests and replies with ICMP types", () => {
    const requests = packetRecords({ src: client.ip, dst: server.ip, proto: "ICMPv4", seenBy: "source" });
    const replies = packetRecords({ src: server.ip, dst: client.ip, proto: "ICMPv4", seenBy: "destination" });
    expect(latest(requests).flowlens).toMatchObject({ packets: PING_COUNT, bytes: PING_COUNT * ICMP_ECHO_BYTES });
    expect(latest(replies).flowlens).toMatchObject({ packets: PING_COUNT, bytes: PING_COUNT * ICMP_ECHO_BYTES });
    for (const f of requests) expect(f).toMatchObject({ l4: { ICMPv4: { type: 8, code: 0 } }, is_reply: { value: false }, traffic_direction: "EGRESS" });
    for (const f of replies) expect(f).toMatchObject({ l4: { ICMPv4: { type: 0, code: 0 } }, is_reply: { value: true }, traffic_direction: "EGRESS" });
  });

  test("a successful ping yields no DROPPED flow, while the nftables drop still does", () => {
    // ping as root reads replies on a raw socket; the kernel then frees the original with NO_SOCKET.
    const icmpDrops = all.filter((f) => f.verdict === "DROPPED" && (f.l4?.ICMPv4 || f.l4?.ICMPv6));
    expect(icmpDrops).toEqual([]);
    expect(all.filter((f) => f.verdict === "DROPPED" && ports(f)[1] === DROPPED_UDP_PORT)).toHaveLength(DROP_COUNT);
  });

  test("a refused connection shows the SYN, the RST reply and the kernel's NO_SOCKET drop", () => {
    const syn = latest(packetRecords({ src: client.ip, dst: server.ip, dport: CLOSED_PORT, proto: "TCP", seenBy: "source" }));
    expect(syn.flowlens).toMatchObject({ packets: 1, bytes: 60 });
    expect(syn.l4?.TCP?.flags).toEqual({ SYN: true });
    const rst = latest(packetRecords({ src: server.ip, dst: client.ip, sport: CLOSED_PORT, dport: ports(syn)[0], proto: "TCP", seenBy: "destination" }));
    expect(rst.flowlens).toMatchObject({ packets: 1, bytes: 40 });
    expect(rst.l4?.TCP?.flags).toEqual({ RST: true, ACK: true });
    expect(rst).toMatchObject({ is_reply: { value: true }, traffic_direction: "EGRESS", source: { pod_name: server.name } });
    const drops = all.filter((f) => f.verdict === "DROPPED" && ports(f)[1] === CLOSED_PORT);
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ drop_reason_desc: "SOCKET_LOOKUP_FAILED", flowlens: { kernel_drop_reason: "NO_SOCKET" }, source: { pod_name: client.name } });
  });

  test("packets dropped by an nftables rule are DROPPED flows with the netfilter reason", () => {
    const drops = all.filter((f) => f.verdict === "DROPPED" && ports(f)[1] === DROPPED_UDP_PORT);
    expect(drops).toHaveLength(DROP_COUNT);
    for (const d of drops) {
      expect(d).toMatchObject({
        drop_reason_desc: "POLICY_DENIED",
        drop_reason: 133,
        flowlens: { kernel_drop_reason: "NETFILTER_DROP", event: "drop", bytes: DROP_SIZE + IPV4_UDP_HEADERS },
        IP: { source: client.ip, destination: server.ip },
        source: { namespace, pod_name: client.name },
        destination: { namespace, pod_name: server.name },
        traffic_direction: "INGRESS",
        event_type: { type: 1, sub_type: 133 },
      });
    }
    // The sender's egress hook saw them leave: forwarded there, dropped on arrival.
    const sent = latest(packetRecords({ src: client.ip, dst: server.ip, dport: DROPPED_UDP_PORT, proto: "UDP", seenBy: "source" }));
    expect(sent).toMatchObject({ verdict: "FORWARDED", flowlens: { packets: DROP_COUNT, bytes: DROP_COUNT * (DROP_SIZE + IPV4_UDP_HEADERS) } });
  });

  test("GetFlows applies whitelist, blacklist and number over gRPC", async () => {
    const drops = flowsOf(await getFlows(observer!, { whitelist: [{ verdict: ["DROPPED"], destination_port: [String(DROPPED_UDP_PORT)], source_pod: [`${namespace}/client`] }] }));
    expect(drops).toHaveLength(DROP_COUNT);

    const udpRequests = flowsOf(await getFlows(observer!, { whitelist: [{ protocol: ["udp"], destination_port: [String(UDP_PORT)], reply: [false], source_label: ["app in (client)"] }] }));
    expect(udpRequests.length).toBeGreaterThanOrEqual(4);
    expect(udpRequests.every((f) => f.l4?.UDP?.destination_port === UDP_PORT && f.is_reply?.value === false)).toBe(true);

    const synOnly = flowsOf(await getFlows(observer!, { whitelist: [{ tcp_flags: [{ SYN: true }], source_ip: ["198.18.1.0/28"], traffic_direction: ["EGRESS"] }], blacklist: [{ destination_port: [String(CLOSED_PORT)] }] }));
    expect(synOnly.length).toBeGreaterThan(0);
    expect(synOnly.every((f) => f.l4?.TCP?.flags?.SYN && f.IP?.source === client.ip && f.l4.TCP.destination_port === TCP_PORT)).toBe(true);

    const lastThree = await getFlows(observer!, { number: 3, whitelist: [{ source_pod: [`${namespace}/`] }] });
    expect(lastThree).toHaveLength(3);
    const podFilters = [{ source_pod: [`${namespace}/`] }, { destination_pod: [`${namespace}/`] }];
    const firstTwo = flowsOf(await getFlows(observer!, { number: 2, first: true, whitelist: podFilters }));
    expect(firstTwo.map((f) => f.uuid)).toEqual(all.slice(0, 2).map((f) => f.uuid));
    expect((await getFlows(observer!, { whitelist: [{ node_name: ["node-*"] }] })).length).toBeGreaterThanOrEqual(all.length);
    expect(await getFlows(observer!, { whitelist: [{ node_name: ["some-other-node"] }] })).toHaveLength(0);

    const future = await getFlows(observer!, { since: { seconds: Math.floor(Date.now() / 1000) + 3600, nanos: 0 } });
    expect(future).toHaveLength(0);
  });

  test("a malformed filter is rejected with INVALID_ARGUMENT naming the field and value", async () => {
    const err = await getFlows(observer!, { whitelist: [{ source_ip: ["198.18.1.999"] }] }).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toContain("whitelist[0].source_ip[0]");
    expect(err?.details).toContain("198.18.1.999");
    const labelErr = await getFlows(observer!, { blacklist: [{}, { source_label: ["app in (a,b"] }] }).catch((e: grpc.ServiceError) => e);
    expect((labelErr as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((labelErr as grpc.ServiceError).details).toContain("blacklist[1].source_label[0]");
  });

  test("a follower receives new matching flows as they happen", async () => {
    const call = observer!.GetFlows({ follow: true, whitelist: [{ destination_port: ["7001"] }] });
    const seen: Flow[] = [];
    const got = new Promise<void>((resolve, reject) => {
      call.on("data", (r: GetFlowsResponse) => {
        if (r.flow) seen.push(r.flow);
        if (seen.length >= 2) resolve();
      });
      call.on("error", (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
    });
    // Neither end listens on 7001, so only the request leaves; the follower gets the flow start and a flush.
    await node.traffic(client, ["udp-blast", server.ip, 7001, 1, 10]);
    await got;
    call.cancel();
    expect(seen.every((f) => f.l4?.UDP?.destination_port === 7001)).toBe(true);
    expect(seen[0]).toMatchObject({ flowlens: { event: "flow_start" }, source: { pod_name: client.name } });
  });

  test("ServerStatus and GetNodes describe this node", async () => {
    const status = await unary<Record<string, any>>(observer!, "ServerStatus");
    expect(status.max_flows).toBe(4096);
    expect(status.num_flows).toBeGreaterThanOrEqual(all.length);
    expect(status.seen_flows).toBeGreaterThanOrEqual(status.num_flows);
    expect(status.uptime_ns).toBeGreaterThan(0);
    expect(status.version).toMatch(/^flowlens-agent /);
    const nodes = await unary<Record<string, any>>(observer!, "GetNodes");
    expect(nodes.nodes).toHaveLength(1);
    expect(nodes.nodes[0]).toMatchObject({ name: `node-${node.suffix}`, state: "NODE_CONNECTED", max_flows: 4096 });
  });

  test("metrics carry Hubble's names and Flowlens' own", async () => {
    const res = await httpGet(agent!.metricsPort, "/metrics");
    expect(res.status).toBe(200);
    const value = (line: string) => {
      const m = res.body.split("\n").find((l) => l.startsWith(line + " "));
      return m === undefined ? undefined : Number(m.slice(line.length + 1));
    };
    expect(value(`hubble_drop_total{reason="POLICY_DENIED",protocol="UDP"}`)).toBe(DROP_COUNT);
    expect(value(`hubble_drop_total{reason="SOCKET_LOOKUP_FAILED",protocol="TCP"}`)).toBe(1);
    expect(value(`hubble_flows_processed_total{type="Drop",subtype="",verdict="DROPPED"}`)).toBeGreaterThanOrEqual(DROP_COUNT + 1);
    expect(value(`hubble_flows_processed_total{type="Trace",subtype="from-endpoint",verdict="FORWARDED"}`)).toBeGreaterThan(0);
    // Two SYNs for the TCP exchange (client egress, server ingress) and two for the refused one... minus the server side it never reached.
    expect(value(`hubble_tcp_flags_total{flag="SYN",family="IPv4"}`)).toBe(3);
    expect(value(`hubble_tcp_flags_total{flag="SYN-ACK",family="IPv4"}`)).toBe(2);
    expect(value(`hubble_tcp_flags_total{flag="RST",family="IPv4"}`)).toBe(1);
    expect(value(`hubble_port_distribution_total{protocol="TCP",port="${TCP_PORT}"}`)).toBe(2);
    expect(value(`hubble_port_distribution_total{protocol="UDP",port="${UDP_PORT}"}`)).toBe(2);
    expect(res.body).toContain("# TYPE hubble_lost_events_total counter");
    expect(value("flowlens_tcp_srtt_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(value(`flowlens_flow_packets_total{protocol="UDP",direction="ingress"}`)).toBeGreaterThanOrEqual(2 * UDP_COUNT);
    expect(res.body).toContain("flowlens_kernel_events_per_second");
    expect(res.body).toContain("flowlens_ringbuf_lost_events_total 0");
    expect((await httpGet(agent!.metricsPort, "/healthz")).status).toBe(200);
    expect((await httpGet(agent!.metricsPort, "/readyz")).body).toBe("ready\n");
  });

  test("SIGTERM detaches the programs and exits 0", async () => {
    expect(execFileSync("bpftool", ["cgroup", "show", node.cgroupDir], { encoding: "utf8" })).toMatch(/cgroup_inet_ingress|ingress/);
    const code = await stopAgent(agent!);
    expect(code).toBe(0);
    expect(agent!.stderr()).toContain("SIGTERM received, shutting down");
    expect(execFileSync("bpftool", ["cgroup", "show", node.cgroupDir], { encoding: "utf8" }).trim()).toBe("");
  });
});
