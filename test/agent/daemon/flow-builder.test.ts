import { FlowBuilder } from "../../../agent/daemon/flow-builder";
import { FlowColumns, FlowIds, type FlowEntry } from "../../../agent/daemon/flow-entry";
import { FlowRing } from "../../../agent/daemon/flow-ring";
import { hubbleDropReason } from "../../../agent/daemon/drop-reasons";
import type { Enrichment, PodInfo } from "../../../agent/enrichment/types";
import { decodeRecords, FL_RECORD_SIZE, FL_RECORD_VERSION, RecordCursor, type KernelRecord } from "../../../agent/kernel/record";

const web: PodInfo = { namespace: "shop", name: "web-1", labels: { app: "web" }, workloads: [{ name: "web", kind: "Deployment" }], ips: ["198.18.1.10"] };
const db: PodInfo = { namespace: "shop", name: "db-0", labels: { app: "db" }, workloads: [], ips: ["198.18.1.20"] };
const hostNet: PodInfo = { namespace: "kube-system", name: "node-agent", labels: {}, workloads: [], ips: ["198.18.1.10"] };

const enrichment: Enrichment = {
  podByCgroup: (id) => (id === 100n ? web : id === 200n ? db : id === 300n ? hostNet : undefined),
  podByIp: (ip) => [web, db].find((p) => p.ips.includes(ip)),
  serviceByIp: (ip) => (ip === "198.18.1.200" ? { namespace: "shop", name: "db", clusterIPs: [ip], ports: [] } : undefined),
  synced: true,
  close: async () => undefined,
};

function record(over: Partial<KernelRecord>): KernelRecord {
  return {
    kind: "flow_start", hook: "cgroup_skb", tcpFlags: 0, tcpFlagsNow: 0, icmpType: 0, icmpCode: 0, sockState: 0,
    dropReason: 0, dropReasonName: "", ifindex: 0, timeNs: 1_700_000_000_123_456_789n,
    srcAddr: "198.18.1.10", dstAddr: "198.18.1.20", srcPort: 40000, dstPort: 5432, protocol: 6, family: 4,
    direction: "egress", cgroupId: 100n, packets: 1, bytes: 60, firstSeenNs: 1_700_000_000_000_000_000n,
    lastSeenNs: 1_700_000_000_123_456_789n, sockCookie: 0n, bytesAcked: 0, bytesReceived: 0, connectLatencyNs: 0,
    srttUs: 0, totalRetrans: 0, netnsIno: 0, xlatedSrcAddr: "", xlatedSrcPort: 0,
    ...over,
  };
}

describe("flow builder", () => {
  test("a client's SYN is an egress request from its pod to the peer", () => {
    const b = new FlowBuilder({ nodeName: "n1", enrichment });
    const f = b.build(record({ tcpFlags: 0x02, tcpFlagsNow: 0x02 })).flow;
    expect(f).toMatchObject({
      verdict: "FORWARDED",
      traffic_direction: "EGRESS",
      is_reply: { value: false },
      node_name: "n1",
      Type: "L3_L4",
      time: { seconds: 1_700_000_000, nanos: 123_456_789 },
      IP: { source: "198.18.1.10", destination: "198.18.1.20", ipVersion: "IPv4" },
      l4: { TCP: { source_port: 40000, destination_port: 5432, flags: { SYN: true } } },
      source: { namespace: "shop", pod_name: "web-1", labels: ["app=web"], workloads: [{ name: "web", kind: "Deployment" }] },
      destination: { namespace: "shop", pod_name: "db-0", labels: ["app=db"] },
      cgroup_id: 100,
      event_type: { type: 4, sub_type: 5 },
      flowlens: { packets: 1, bytes: 60, event: "flow_start", first_seen: { seconds: 1_700_000_000, nanos: 0 } },
    });
  });

  test("the server's SYN-ACK is a reply and keeps the connection's ingress direction", () => {
    const b = new FlowBuilder({ nodeName: "n1", enrichment });
    const f = b.build(record({ srcAddr: "198.18.1.20", dstAddr: "198.18.1.10", srcPort: 5432, dstPort: 40000, cgroupId: 200n, tcpFlagsNow: 0x12, tcpFlags: 0x12 })).flow;
    expect(f).toMatchObject({ is_reply: { value: true }, traffic_direction: "INGRESS", source: { pod_name: "db-0" }, destination: { pod_name: "web-1" } });
    // Later records of either direction are classified from the SYN-ACK.
    expect(b.build(record({ kind: "flush", tcpFlags: 0x1a })).flow.is_reply).toEqual({ value: false });
    const back = b.build(record({ kind: "flush", direction: "ingress", srcAddr: "198.18.1.20", dstAddr: "198.18.1.10", srcPort: 5432, dstPort: 40000 })).flow;
    expect(back).toMatchObject({ is_reply: { value: true }, traffic_direction: "EGRESS", l4: { TCP: { flags: {} } } });
  });

  test("UDP flows take the first sender as the initiator", () => {
    const b = new FlowBuilder({ nodeName: "n1", enrichment });
    expect(b.build(record({ protocol: 17, dstPort: 53 })).flow.is_reply).toEqual({ value: false });
    const answer = b.build(record({ protocol: 17, srcAddr: "198.18.1.20", dstAddr: "198.18.1.10", srcPort: 53, dstPort: 40000, direction: "ingress" })).flow;
    expect(answer).toMatchObject({ is_reply: { value: true }, traffic_direction: "EGRESS", l4: { UDP: { source_port: 53, destination_port: 40000 } } });
  });

  test("ICMP types come from the flow's first record and decide the reply flag", () => {
    const b = new FlowBuilder({ nodeName: "n1", enrichment });
    const request = b.build(record({ protocol: 1, srcPort: 8, dstPort: 0, icmpType: 8 })).flow;
    expect(request).toMatchObject({ l4: { ICMPv4: { type: 8, code: 0 } }, is_reply: { value: false } });
    const reply = b.build(record({ protocol: 1, srcAddr: "198.18.1.20", dstAddr: "198.18.1.10", srcPort: 0, dstPort: 0, icmpType: 0, direction: "ingress" })).flow;
    expect(reply).toMatchObject({ l4: { ICMPv4: { type: 0 } }, is_reply: { value: true } });
    const flushed = b.build(record({ kind: "flush", protocol: 1, srcPort: 8, dstPort: 0, icmpType: 0, packets: 3 })).flow;
    expect(flushed.l4).toEqual({ ICMPv4: { type: 8, code: 0 } });
  });

  test("drops carry the Hubble reason and the kernel's name", () => {
    const b = new FlowBuilder({ nodeName: "n1", enrichment });
    const f = b.build(record({ kind: "drop", protocol: 17, direction: "ingress", cgroupId: 0n, dropReason: 6, dropReasonName: "NETFILTER_DROP" })).flow;
    expect(f).toMatchObject({
      verdict: "DROPPED",
      drop_reason: 133,
      drop_reason_desc: "POLICY_DENIED",
      event_type: { type: 1, sub_type: 133 },
      flowlens: { kernel_drop_reason: "NETFILTER_DROP", event: "drop" },
      source: { pod_name: "web-1" },
      destination: { pod_name: "db-0" },
    });
    // Nothing was seen of this conversation before: its reply status is unknown.
    expect(f.is_reply).toBeUndefined();
    expect(hubbleDropReason("SKB_DROP_REASON_NO_SOCKET")).toBe("SOCKET_LOOKUP_FAILED");
    expect(hubbleDropReason("SOMETHING_NEW")).toBe("DROP_REASON_UNKNOWN");
  });

  test("socket records report the local socket's counters as the source's", () => {
    const b = new FlowBuilder({ nodeName: "n1", enrichment });
    const server = b.build(record({ kind: "sock_close", hook: "sock", direction: "ingress", cgroupId: 200n, srcAddr: "198.18.1.20", dstAddr: "198.18.1.10", srcPort: 5432, dstPort: 40000, bytesAcked: 3001, bytesReceived: 1001, srttUs: 120, totalRetrans: 2, packets: 5, bytes: 0 })).flow;
    expect(server).toMatchObject({
      traffic_direction: "INGRESS",
      is_reply: { value: true },
      source: { pod_name: "db-0" },
      destination: { pod_name: "web-1" },
      flowlens: { bytes_sent: 3001, bytes_received: 1001, srtt_us: 120, retransmits: 2, event: "sock_close" },
    });
    const client = b.build(record({ kind: "sock_established", hook: "sock", connectLatencyNs: 150_000 })).flow;
    expect(client).toMatchObject({ traffic_direction: "EGRESS", is_reply: { value: false }, flowlens: { connect_latency_ns: 150_000 } });
  });

  test("the cgroup names the local pod even when another pod shares its IP", () => {
    const b = new FlowBuilder({ nodeName: "n1", enrichment });
    expect(b.build(record({ cgroupId: 300n })).flow.source?.pod_name).toBe("node-agent");
    expect(b.build(record({ cgroupId: 999n })).flow.source?.pod_name).toBe("web-1");
  });

  test("service addresses name the service", () => {
    const b = new FlowBuilder({ nodeName: "n1", enrichment });
    const f = b.build(record({ dstAddr: "198.18.1.200" })).flow;
    expect(f.destination_service).toEqual({ namespace: "shop", name: "db" });
    expect(f.destination).toEqual({});
  });

  test("an entry builds a new Flow on each read with the same UUID, unique per entry", () => {
    const b = new FlowBuilder({ nodeName: "n1", enrichment });
    const first = b.build(record({}));
    const second = b.build(record({ kind: "flush" }));
    expect(first.flow).not.toBe(first.flow);
    expect(first.flow.uuid).toBe(first.flow.uuid);
    expect(first.flow.uuid).not.toBe(second.flow.uuid);
    expect(first.flow.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test("the connection memory stays within its capacity", () => {
    const b = new FlowBuilder({ nodeName: "n1", enrichment, connectionCapacity: 2 });
    b.build(record({ protocol: 17, srcPort: 1 }));
    b.build(record({ protocol: 17, srcPort: 2 }));
    b.build(record({ protocol: 17, srcPort: 3 }));
    // The first conversation was forgotten, so its reply looks like a new conversation.
    const late = b.build(record({ protocol: 17, srcAddr: "198.18.1.20", dstAddr: "198.18.1.10", srcPort: 5432, dstPort: 1 })).flow;
    expect(late.is_reply).toEqual({ value: false });
    const recent = b.build(record({ protocol: 17, srcAddr: "198.18.1.20", dstAddr: "198.18.1.10", srcPort: 5432, dstPort: 3 })).flow;
    expect(recent.is_reply).toEqual({ value: true });
  });

  it("copies ring-buffer records into the ring's columns as bytes and builds the same flow from them as from the decoded record", () => {
    // Two struct fl_record: a TCP SYN from web-1 and a drop towards it, both IPv4, in one batch.
    const batch = Buffer.alloc(2 * FL_RECORD_SIZE);
    const put = (o: number, kind: number, flags: number, src: number[], dst: number[], sport: number, dport: number, dir: number) => {
      batch[o] = kind;
      batch[o + 1] = FL_RECORD_VERSION;
      batch[o + 2] = 1; // cgroup_skb
      batch[o + 3] = flags;
      batch[o + 4] = flags;
      batch.writeBigUInt64LE(5_000_000_123n, o + 16);
      const k = o + 24;
      batch.set(src, k + 12);
      batch.set(dst, k + 16 + 12);
      batch.writeUInt16LE(sport, k + 32);
      batch.writeUInt16LE(dport, k + 34);
      batch[k + 36] = 6;
      batch[k + 37] = 4;
      batch[k + 38] = dir;
      batch.writeBigUInt64LE(100n, k + 40);
      batch.writeUInt32LE(0x1_0002, o + 72); // packets: 65,538, past 16 bits
      batch.writeUInt32LE(3, o + 84); // bytes: 3 * 2^32, past 32 bits
    };
    put(0, 1, 0x02, [198, 18, 1, 10], [198, 18, 1, 20], 40000, 5432, 2);
    put(FL_RECORD_SIZE, 8, 0x12, [198, 18, 1, 20], [198, 18, 1, 10], 5432, 40000, 1);
    const bootToWallNs = 1_700_000_000_000_000_000n;
    const records = decodeRecords(batch, bootToWallNs);
    const fromBytes = new FlowBuilder({ nodeName: "node-a", enrichment });
    const fromObjects = new FlowBuilder({ nodeName: "node-a", enrichment });
    const columns = new FlowColumns(4, new FlowIds("node-a"));
    const ring = new FlowRing(4, columns);
    const cursor = new RecordCursor().over(batch);
    for (let i = 0; i < records.length; i++) {
      const slot = ring.nextSlot;
      columns.storeBytes(slot, batch, i * FL_RECORD_SIZE, bootToWallNs);
      fromBytes.resolve(cursor.at(i * FL_RECORD_SIZE), columns, slot);
      ring.pushStored(0);
    }
    // The batch's bytes are reused by the next drain: the ring must not depend on them.
    batch.fill(0);
    const stored = [...ring.events()].map((e) => e.entry as FlowEntry);
    for (let i = 0; i < records.length; i++) {
      const decoded = fromObjects.build(records[i]);
      expect(stored[i].record).not.toBe(records[i]);
      expect(stored[i].record).toEqual(records[i]);
      const { uuid: _a, ...flowFromBytes } = stored[i].flow;
      const { uuid: _b, ...flowFromObject } = decoded.flow;
      expect(flowFromBytes).toEqual(flowFromObject);
    }
    const syn = stored[0].flow;
    expect(syn.flowlens).toMatchObject({ packets: 65538, bytes: 3 * 2 ** 32, event: "flow_start" });
    expect(syn.time).toEqual({ seconds: 1_700_000_005, nanos: 123 });
    expect(syn.source?.pod_name).toBe("web-1");
  });
});
