/**
 * Real kernel programs observing real traffic between test pods (netns + cgroup on a bridge).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { KernelCapture } from "../../../agent/kernel/capture";
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, TCP_FLAGS, type KernelRecord } from "../../../agent/kernel/record";
import { RecordLog } from "./helpers";
import { TestPods, TRAFFIC } from "./pods";
import { recordResource, releaseResource } from "../../support/test-resources";

const { SYN, ACK, FIN, RST } = TCP_FLAGS;
// IPv4 (20) + TCP with timestamps (32); SYN and SYN-ACK carry 20 more bytes of options.
const TCP_HDR = 52;
const SYN_HDR = 60;

describe("KernelCapture on live traffic", () => {
  let pods: TestPods;
  let capture: KernelCapture;
  let log: RecordLog;
  let otherRoot: string;
  let other: KernelCapture;
  let otherLog: RecordLog;
  let a: ReturnType<TestPods["pod"]>;
  let b: ReturnType<TestPods["pod"]>;

  beforeAll(() => {
    pods = new TestPods(["a", "b"]);
    a = pods.pod("a");
    b = pods.pod("b");
    capture = KernelCapture.open({ cgroupRoot: pods.cgroupRoot, flushIntervalMs: 60_000 });
    log = new RecordLog(capture);
    // A second capture on a sibling subtree, as a second agent on the same host.
    otherRoot = path.join(path.dirname(pods.cgroupRoot), `${path.basename(pods.cgroupRoot)}-other`);
    recordResource("cgroup", otherRoot);
    fs.mkdirSync(otherRoot);
    other = KernelCapture.open({ cgroupRoot: otherRoot, flushIntervalMs: 60_000 });
    otherLog = new RecordLog(other);
  });

  afterAll(async () => {
    capture?.close();
    other?.close();
    await pods?.destroy();
    if (otherRoot && fs.existsSync(otherRoot)) fs.rmdirSync(otherRoot);
    if (otherRoot) releaseResource("cgroup", otherRoot);
  });

  const between = (src: string, dst: string, dport: number) => (r: KernelRecord) =>
    r.srcAddr === src && r.dstAddr === dst && r.dstPort === dport;

  test("a TCP exchange yields flows with exact byte counts, flags, connect latency and RTT at close", async () => {
    const server = await pods.spawnTraffic("b", ["tcp-server", b.ip, 5001, 1000, 2000]);
    const serverExit = new Promise((r) => server.on("exit", r));
    pods.traffic("a", ["tcp-client", b.ip, 5001, 1000, 2000]);
    await serverExit;

    const start = await log.waitFor("SYN flow start", (r) => r.kind === "flow_start" && between(a.ip, b.ip, 5001)(r) && r.direction === "egress");
    expect(start[0]).toMatchObject({ protocol: IPPROTO_TCP, family: 4, cgroupId: a.cgroupId, hook: "cgroup_skb", tcpFlagsNow: SYN });
    const clientPort = start[0].srcPort;

    const request = await log.lastFlush("client egress", (r) => between(a.ip, b.ip, 5001)(r) && r.direction === "egress");
    expect(request.cgroupId).toBe(a.cgroupId);
    expect(request.tcpFlags & (SYN | ACK | FIN)).toBe(SYN | ACK | FIN);
    expect(request.bytes).toBe(1000 + SYN_HDR + TCP_HDR * (request.packets - 1));

    const seenByServer = await log.lastFlush("server ingress", (r) => between(a.ip, b.ip, 5001)(r) && r.direction === "ingress");
    expect(seenByServer).toMatchObject({ cgroupId: b.cgroupId, packets: request.packets, bytes: request.bytes, srcPort: clientPort });

    const reply = await log.lastFlush("server egress", (r) => between(b.ip, a.ip, clientPort)(r) && r.direction === "egress");
    expect(reply).toMatchObject({ cgroupId: b.cgroupId, srcPort: 5001 });
    expect(reply.bytes).toBe(2000 + SYN_HDR + TCP_HDR * (reply.packets - 1));

    const flagRecords = log.records.filter((r) => r.kind === "tcp_flags" && between(a.ip, b.ip, 5001)(r) && r.direction === "egress");
    expect(flagRecords.some((r) => r.tcpFlagsNow & FIN)).toBe(true);

    const established = await log.waitFor("client established", (r) => r.kind === "sock_established" && r.cgroupId === a.cgroupId && r.dstPort === 5001);
    expect(established[0]).toMatchObject({ srcAddr: a.ip, srcPort: clientPort, dstAddr: b.ip, direction: "egress" });
    expect(established[0].connectLatencyNs).toBeGreaterThan(0);

    const closed = await log.waitFor("client close", (r) => r.kind === "sock_close" && r.cgroupId === a.cgroupId && r.dstPort === 5001);
    expect(closed[0]).toMatchObject({ srcPort: clientPort, direction: "egress" });
    expect(closed[0].srttUs).toBeGreaterThan(0);
    // tcp_sock counts sequence space: the payload plus the FIN, and the connecting side's own SYN as acked.
    expect([closed[0].bytesAcked, closed[0].bytesReceived]).toEqual([1 + 1000 + 1, 2000 + 1]);

    const serverClosed = await log.waitFor("server close", (r) => r.kind === "sock_close" && r.cgroupId === b.cgroupId && r.srcPort === 5001);
    expect(serverClosed[0]).toMatchObject({ dstAddr: a.ip, dstPort: clientPort, direction: "ingress" });
    expect([serverClosed[0].bytesAcked, serverClosed[0].bytesReceived]).toEqual([2000 + 1, 1000 + 1]);

    const nowNs = BigInt(Date.now()) * 1_000_000n;
    expect(Number(nowNs - established[0].timeNs)).toBeGreaterThan(0);
    expect(Number(nowNs - established[0].timeNs)).toBeLessThan(60e9);
  });

  test("an established connection's segments are counted as on the wire: a large send counts each segment with its headers", async () => {
    const sent = 4 << 20;
    const server = await pods.spawnTraffic("b", ["tcp-server", b.ip, 5011, sent, 100]);
    const serverExit = new Promise((r) => server.on("exit", r));
    pods.traffic("a", ["tcp-client", b.ip, 5011, sent, 100]);
    await serverExit;

    const closed = await log.waitFor("client close", (r) => r.kind === "sock_close" && r.cgroupId === a.cgroupId && r.dstPort === 5011);
    const clientPort = closed[0].srcPort;
    const request = await log.lastFlush("client egress", (r) => between(a.ip, b.ip, 5011)(r) && r.direction === "egress");
    // Every packet the client sent left its socket, whose segment count the close record carries.
    expect(request.packets).toBe(closed[0].packets);
    // The senders hand the device 64 KiB packets that it cuts into segments of at most one MSS (1448 here).
    expect(request.packets).toBeGreaterThanOrEqual(Math.ceil(sent / 1448));
    const headers = SYN_HDR + TCP_HDR * (request.packets - 1);
    const seenByServer = await log.lastFlush("server ingress", (r) => between(a.ip, b.ip, 5011)(r) && r.direction === "ingress");
    const retransmitted = closed[0].totalRetrans;
    if (retransmitted === 0) {
      expect(request.bytes).toBe(sent + headers);
      expect(seenByServer).toMatchObject({ srcPort: clientPort, packets: request.packets, bytes: request.bytes });
    } else {
      // A loss on a busy machine: the retransmitted segments went on the wire again, payload and all, and the
      // lost ones never reached the server.
      expect(request.bytes).toBeGreaterThan(sent + headers);
      expect(request.bytes).toBeLessThanOrEqual(sent + headers + retransmitted * 1448);
      expect(seenByServer.packets).toBeLessThanOrEqual(request.packets);
    }
    const reply = await log.lastFlush("server egress", (r) => between(b.ip, a.ip, clientPort)(r) && r.direction === "egress");
    expect(reply.bytes).toBe(100 + SYN_HDR + TCP_HDR * (reply.packets - 1));
  });

  test("a connection established before the capture started is counted per packet from then on", async () => {
    const server = await pods.spawnTraffic("b", ["tcp-server", b.ip, 5012, 3000, 1500]);
    const serverExit = new Promise((r) => server.on("exit", r));
    const client = await pods.spawnTraffic("a", ["tcp-client-later", b.ip, 5012, 3000, 1500, 500]);
    const late = KernelCapture.open({ cgroupRoot: pods.cgroupRoot, flushIntervalMs: 60_000 });
    try {
      const lateLog = new RecordLog(late);
      await serverExit;
      await new Promise((r) => (client.exitCode === null ? client.on("exit", r) : r(null)));
      late.flush();
      const request = await lateLog.lastFlush("client egress", (r) => between(a.ip, b.ip, 5012)(r) && r.direction === "egress");
      // No handshake: every packet it saw is a segment with timestamps.
      expect(request.tcpFlags & SYN).toBe(0);
      expect(request.bytes).toBe(3000 + TCP_HDR * request.packets);
      const seenByServer = await lateLog.lastFlush("server ingress", (r) => between(a.ip, b.ip, 5012)(r) && r.direction === "ingress");
      expect(seenByServer).toMatchObject({ packets: request.packets, bytes: request.bytes });
      const reply = await lateLog.lastFlush("server egress", (r) => between(b.ip, a.ip, request.srcPort)(r) && r.direction === "egress");
      expect(reply.bytes).toBe(1500 + TCP_HDR * reply.packets);
    } finally {
      late.close();
    }
  });

  test("an open connection counts on its sockets, takes over its handshake, and is handed to the flow table once at close", async () => {
    // Flow-table entries with this port at either end (the key's ports are host-order u16s at bytes 32 and 34),
    // in every map of that name (bpftool lists each map's elements apart when there are several).
    // Another suite's capture may hold tens of thousands of flows, a dump of many megabytes: execFileSync's default
    // 1 MiB buffer would fail with an error that refers to itself, which jest's worker cannot even report.
    type Entry = { key: string[] };
    const dumpFlowTables = () => {
      try {
        return execFileSync("bpftool", ["-j", "map", "dump", "name", "fl_flows"], { encoding: "utf8", maxBuffer: 1 << 30 });
      } catch (err) {
        throw new Error(`bpftool map dump name fl_flows failed: ${(err as Error).message}`);
      }
    };
    const flowTableEntries = (port: number) =>
      (JSON.parse(dumpFlowTables()) as Array<Entry | { elements: Entry[] }>)
        .flatMap((e) => ("elements" in e ? e.elements : [e]))
        .map((e) => Buffer.from(e.key.map((byte) => Number(byte))))
        .filter((key) => key.readUInt16LE(32) === port || key.readUInt16LE(34) === port);
    const batches: KernelRecord[][] = [];
    capture.onRecords((records) => batches.push(records.filter((r) => r.kind === "flush" && (r.srcPort === 5006 || r.dstPort === 5006))));
    const server = await pods.spawnTraffic("b", ["tcp-server", b.ip, 5006, 3000, 500]);
    const serverExit = new Promise((r) => server.on("exit", r));
    const client = await pods.spawn("a", [process.execPath, TRAFFIC, "tcp-client", b.ip, "5006", "3000", "500", "1500"], "holding");
    const clientExit = new Promise((r) => client.on("exit", r));

    // Held open: the client is in CLOSE_WAIT, the server in FIN_WAIT2, both sockets still counting.
    const before = log.records.length;
    capture.flush();
    const open = log.records.slice(before).filter((r) => r.kind === "flush" && (r.srcPort === 5006 || r.dstPort === 5006));
    const one = (what: string, pred: (r: KernelRecord) => boolean) => {
      const found = open.filter(pred);
      expect({ what, count: found.length }).toEqual({ what, count: 1 });
      return found[0];
    };
    const request = one("client egress", (r) => between(a.ip, b.ip, 5006)(r) && r.direction === "egress");
    expect(request).toMatchObject({ cgroupId: a.cgroupId, hook: "cgroup_skb" });
    expect(request.tcpFlags & (SYN | FIN)).toBe(SYN);
    expect(request.bytes).toBe(3000 + SYN_HDR + TCP_HDR * (request.packets - 1));
    const clientPort = request.srcPort;
    expect(one("server ingress", (r) => between(a.ip, b.ip, 5006)(r) && r.direction === "ingress")).toMatchObject({
      cgroupId: b.cgroupId,
      packets: request.packets,
      bytes: request.bytes,
    });
    // The server's SYN-ACK went out through the listener, into the flow table; its socket took it over.
    const reply = one("server egress", (r) => between(b.ip, a.ip, clientPort)(r) && r.direction === "egress");
    expect(reply.tcpFlags & (SYN | FIN)).toBe(SYN | FIN);
    expect(reply.bytes).toBe(500 + SYN_HDR + TCP_HDR * (reply.packets - 1));
    expect(one("client ingress", (r) => between(b.ip, a.ip, clientPort)(r) && r.direction === "ingress")).toMatchObject({ packets: reply.packets, bytes: reply.bytes });
    expect(flowTableEntries(clientPort)).toEqual([]);

    await Promise.all([clientExit, serverExit]);
    const closed = await log.lastFlush("client egress after close", (r) => between(a.ip, b.ip, 5006)(r) && r.direction === "egress" && (r.tcpFlags & FIN) !== 0);
    expect(closed.packets).toBeGreaterThan(request.packets);
    expect(closed.bytes).toBe(3000 + SYN_HDR + TCP_HDR * (closed.packets - 1));
    const closedReply = await log.lastFlush("server egress after close", (r) => between(b.ip, a.ip, clientPort)(r) && r.direction === "egress" && r.packets > reply.packets);
    expect(closedReply.bytes).toBe(500 + SYN_HDR + TCP_HDR * (closedReply.packets - 1));
    // Closed sockets folded their flows into the flow table: four entries, and never two records of a flow in one flush.
    expect(flowTableEntries(clientPort)).toHaveLength(4);
    for (const batch of batches) {
      const keys = batch.map((r) => `${r.srcAddr}:${r.srcPort}>${r.dstAddr}:${r.dstPort}/${r.direction}`);
      expect(new Set(keys).size).toBe(keys.length);
    }
  });

  test("UDP datagrams are counted per flow with their exact L3 size", async () => {
    const server = await pods.spawnTraffic("b", ["udp-server", b.ip, 5002, 3]);
    const serverExit = new Promise((r) => server.on("exit", r));
    pods.traffic("a", ["udp-send", b.ip, 5002, 1000, 3]);
    await serverExit;
    const sent = await log.lastFlush("udp egress", (r) => between(a.ip, b.ip, 5002)(r) && r.direction === "egress");
    expect(sent).toMatchObject({ protocol: IPPROTO_UDP, cgroupId: a.cgroupId, packets: 3, bytes: 3 * (1000 + 8 + 20) });
    const received = await log.lastFlush("udp ingress", (r) => between(a.ip, b.ip, 5002)(r) && r.direction === "ingress");
    expect(received).toMatchObject({ cgroupId: b.cgroupId, packets: 3, bytes: 3084 });
  });

  test("a flush of more flows than one hand-on chunk reports each of them once, stamped no earlier than the chunk before", async () => {
    const FLOWS = 600;
    const isSpray = (r: KernelRecord) => r.kind === "flush" && r.srcAddr === a.ip && r.dstAddr === b.ip && r.direction === "egress" && r.dstPort >= 6000 && r.dstPort < 6000 + FLOWS;
    const chunks: KernelRecord[][] = [];
    capture.onRecords((records) => {
      const spray = records.filter(isSpray);
      if (spray.length > 0) chunks.push(spray);
    });
    pods.traffic("a", ["udp-send", b.ip, 6000, 10, FLOWS, FLOWS]);
    capture.flush();
    for (let i = 0; i < 100 && chunks.flat().length < FLOWS; i++) await new Promise((r) => setTimeout(r, 20));
    const flushed = chunks.flat();
    expect(new Set(flushed.map((r) => r.dstPort)).size).toBe(FLOWS);
    expect(flushed).toHaveLength(FLOWS);
    for (const r of flushed) expect(r).toMatchObject({ protocol: IPPROTO_UDP, packets: 1, bytes: 10 + 8 + 20 });
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < chunks.length; i++) expect(chunks[i][0].timeNs).toBeGreaterThanOrEqual(chunks[i - 1][0].timeNs);
  });

  test("IPv6 flows (on the pod's loopback) carry IPv6 addresses and sizes", async () => {
    const server = await pods.spawnTraffic("a", ["udp-server", "::1", 5010, 2]);
    const serverExit = new Promise((r) => server.on("exit", r));
    pods.traffic("a", ["udp-send", "::1", 5010, 100, 2]);
    await serverExit;
    for (const direction of ["egress", "ingress"] as const) {
      const flow = await log.lastFlush(`IPv6 ${direction}`, (r) => r.family === 6 && r.dstPort === 5010 && r.direction === direction);
      expect(flow).toMatchObject({ srcAddr: "::1", dstAddr: "::1", protocol: IPPROTO_UDP, cgroupId: a.cgroupId, packets: 2, bytes: 2 * (100 + 8 + 40) });
    }
  });

  test("ICMP echo requests carry their type and size", async () => {
    pods.run("a", ["ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", "56", b.ip]);
    const start = await log.waitFor("echo request", (r) => r.kind === "flow_start" && r.protocol === IPPROTO_ICMP && r.srcAddr === a.ip && r.dstAddr === b.ip);
    expect(start[0]).toMatchObject({ icmpType: 8, icmpCode: 0, direction: "egress", cgroupId: a.cgroupId });
    const flow = await log.lastFlush("echo flow", (r) => r.protocol === IPPROTO_ICMP && r.srcAddr === a.ip && r.direction === "egress");
    expect(flow).toMatchObject({ packets: 2, bytes: 2 * 84 });
    const reply = await log.waitFor("echo reply", (r) => r.kind === "flow_start" && r.protocol === IPPROTO_ICMP && r.srcAddr === b.ip && r.direction === "ingress");
    expect(reply[0]).toMatchObject({ icmpType: 0, dstAddr: a.ip, cgroupId: a.cgroupId });
  });

  test("a refused connection shows the RST and a close without establishment", async () => {
    pods.traffic("a", ["tcp-refused", b.ip, 5009]);
    const rst = await log.waitFor("RST", (r) => r.kind !== "flush" && between(b.ip, a.ip, r.dstPort)(r) && r.srcPort === 5009 && (r.tcpFlagsNow & RST) !== 0);
    expect(rst[0]).toMatchObject({ direction: "ingress", cgroupId: a.cgroupId });
    const closed = await log.waitFor("refused close", (r) => r.kind === "sock_close" && r.dstPort === 5009);
    expect(closed[0].cgroupId).toBe(a.cgroupId);
    expect(log.records.some((r) => r.kind === "sock_established" && r.dstPort === 5009)).toBe(false);
  });

  test("packets dropped by an nftables rule yield DROP records with the kernel's reason", async () => {
    const table = `fldrop${pods.suffix}`;
    execFileSync("ip", ["netns", "exec", b.netns, "nft", "-f", "-"], {
      input: `table inet ${table} { chain input { type filter hook input priority 0; udp dport 5003 drop; }; }`,
    });
    pods.traffic("a", ["udp-send", b.ip, 5003, 100, 2]);
    const drops = await log.waitFor("nft drop", (r) => r.kind === "drop" && r.dstPort === 5003);
    expect(drops[0]).toMatchObject({
      srcAddr: a.ip,
      dstAddr: b.ip,
      protocol: IPPROTO_UDP,
      dropReasonName: "NETFILTER_DROP",
      netnsIno: b.netnsIno,
      hook: "kfree_skb",
      direction: "ingress",
    });
    expect(drops[0].dropReason).toBeGreaterThan(1);
  });

  test("replies lost on the way cause retransmit records, and their drop is attributed to the receiving socket", async () => {
    const table = `flrtx${pods.suffix}`;
    const nft = (script: string) => execFileSync("ip", ["netns", "exec", a.netns, "nft", "-f", "-"], { input: script });
    const server = await pods.spawnTraffic("b", ["tcp-server", b.ip, 5005, 100, 100]);
    const serverExit = new Promise((r) => server.on("exit", r));
    // The client drops the server's reply (its packets with a payload) until the rule goes away.
    nft(`table inet ${table} { chain input { type filter hook input priority 0; tcp sport 5005 meta length > 60 drop; }; }`);
    try {
      const client = await pods.spawn("a", [process.execPath, TRAFFIC, "tcp-client", b.ip, "5005", "100", "100"]);
      const clientExit = new Promise((r) => client.on("exit", r));
      await log.waitFor("retransmit", (r) => r.kind === "retransmit" && r.srcPort === 5005, 10_000);
      nft(`delete table inet ${table}`);
      await Promise.all([serverExit, clientExit]);
    } finally {
      spawnSync("ip", ["netns", "exec", a.netns, "nft", "delete", "table", "inet", table], { stdio: "ignore" });
    }

    const rtx = log.records.find((r) => r.kind === "retransmit" && r.srcPort === 5005)!;
    expect(rtx).toMatchObject({ cgroupId: b.cgroupId, srcAddr: b.ip, dstAddr: a.ip, hook: "retransmit", direction: "ingress" });
    const drop = log.records.find((r) => r.kind === "drop" && r.srcPort === 5005)!;
    expect(drop).toMatchObject({ cgroupId: a.cgroupId, direction: "ingress", dropReasonName: "NETFILTER_DROP", srcAddr: b.ip, dstAddr: a.ip, netnsIno: a.netnsIno });
    expect(drop.sockCookie).not.toBe(0n);
    const closed = await log.waitFor("server close", (r) => r.kind === "sock_close" && r.srcPort === 5005);
    expect(closed[0].totalRetrans).toBeGreaterThanOrEqual(1);
  });

  test("a capture on another cgroup subtree reports none of these pods' traffic", async () => {
    other.flush();
    await new Promise((r) => setTimeout(r, 100));
    other.flush();
    const podIds = new Set([a.cgroupId, b.cgroupId]);
    const leaked = otherLog.records.filter((r) => podIds.has(r.cgroupId) || r.netnsIno === a.netnsIno || r.netnsIno === b.netnsIno);
    expect(leaked).toEqual([]);
    expect(log.records.every((r) => r.cgroupId === 0n || podIds.has(r.cgroupId))).toBe(true);
  });
});
