// The daemon's table of egress NAT translations and how flows carry them.
import type { KernelRecord } from "../../../agent/kernel/record";
import { FlowBuilder } from "../../../agent/daemon/flow-builder";
import { FlowRing } from "../../../agent/daemon/flow-ring";
import { NatTable, patchRecent } from "../../../agent/daemon/nat-table";
import type { Enrichment } from "../../../agent/enrichment/types";

const NO_ENRICHMENT: Enrichment = { podByCgroup: () => undefined, podByIp: () => undefined, serviceByIp: () => undefined, synced: true, close: async () => undefined };

function record(over: Partial<KernelRecord>): KernelRecord {
  return {
    kind: "flow_start", hook: "cgroup_skb", tcpFlags: 0, tcpFlagsNow: 0, icmpType: 0, icmpCode: 0, sockState: 0,
    dropReason: 0, dropReasonName: "", ifindex: 0, timeNs: 1_700_000_000_000_000_000n,
    srcAddr: "198.18.1.130", dstAddr: "198.18.1.200", srcPort: 40000, dstPort: 443, protocol: 6, family: 4,
    direction: "egress", cgroupId: 100n, packets: 1, bytes: 60, firstSeenNs: 0n, lastSeenNs: 0n, sockCookie: 0n,
    bytesAcked: 0, bytesReceived: 0, connectLatencyNs: 0, srttUs: 0, totalRetrans: 0, netnsIno: 0,
    xlatedSrcAddr: "", xlatedSrcPort: 0,
    ...over,
  };
}

const natRecord = (over: Partial<KernelRecord> = {}) =>
  record({ kind: "nat", hook: "nat", cgroupId: 0n, xlatedSrcAddr: "198.18.1.193", xlatedSrcPort: 61000, ...over });

describe("NAT table", () => {
  test("egress records of the original tuple get the translated source; replies and other flows do not", () => {
    const nat = new NatTable();
    nat.learn(natRecord());
    expect(nat.sourceXlatedOf(record({ kind: "flush" }))).toBe("198.18.1.193");
    expect(nat.sourceXlatedOf(record({ kind: "sock_close", hook: "sock" }))).toBe("198.18.1.193");
    expect(nat.sourceXlatedOf(record({ srcAddr: "198.18.1.200", dstAddr: "198.18.1.130", srcPort: 443, dstPort: 40000, direction: "ingress" }))).toBeUndefined();
    expect(nat.sourceXlatedOf(record({ srcPort: 40001 }))).toBeUndefined();
    expect(nat.sourceXlatedOf(record({ protocol: 17 }))).toBeUndefined();
    // The same tuple seen at a pod's ingress hook is a packet towards the pod, not its egress.
    expect(nat.sourceXlatedOf(record({ direction: "ingress" }))).toBeUndefined();
  });

  test("a record to another destination on the same ports gets no translation", () => {
    const nat = new NatTable();
    nat.learn(natRecord());
    expect(nat.sourceXlatedOf(record({ dstAddr: "198.18.1.201" }))).toBeUndefined();
    expect(nat.sourceXlatedOf(record({}))).toBe("198.18.1.193");
  });

  test("ICMP matches by addresses: packet records carry no ports", () => {
    const nat = new NatTable();
    nat.learn(natRecord({ protocol: 1, srcPort: 0, dstPort: 0, xlatedSrcPort: 0 }));
    expect(nat.sourceXlatedOf(record({ protocol: 1, srcPort: 0, dstPort: 0, icmpType: 8 }))).toBe("198.18.1.193");
  });

  test("a translation unused for the TTL is forgotten; use keeps it alive", () => {
    let now = 0;
    const nat = new NatTable({ ttlMs: 1000, now: () => now });
    nat.learn(natRecord());
    now = 900;
    expect(nat.sourceXlatedOf(record({}))).toBe("198.18.1.193");
    now = 1800;
    expect(nat.sourceXlatedOf(record({}))).toBe("198.18.1.193");
    now = 2801;
    expect(nat.sourceXlatedOf(record({}))).toBeUndefined();
  });

  test("holds at most its capacity, keeping recently used translations", () => {
    const nat = new NatTable({ capacity: 100 });
    nat.learn(natRecord({ srcPort: 1 }));
    for (let port = 2; port <= 1000; port++) {
      nat.learn(natRecord({ srcPort: port }));
      expect(nat.sourceXlatedOf(record({ srcPort: 1 }))).toBe("198.18.1.193");
      expect(nat.size).toBeLessThanOrEqual(100);
    }
    expect(nat.sourceXlatedOf(record({ srcPort: 2 }))).toBeUndefined();
    expect(nat.sourceXlatedOf(record({ srcPort: 1000 }))).toBe("198.18.1.193");
    expect(() => new NatTable({ capacity: 1 })).toThrow(/capacity must be an integer of at least 2, got 1/);
  });

  test("records stored before the binding arrived are patched, within the lookback and time window, and their flows show it", () => {
    const builder = new FlowBuilder({ nodeName: "n1", enrichment: NO_ENRICHMENT });
    const ring = new FlowRing(16);
    const syn = builder.build(record({ tcpFlagsNow: 0x02 }));
    ring.push({ entry: syn, timeMs: 0 });
    const unrelated = builder.build(record({ srcPort: 40001 }));
    ring.push({ entry: unrelated, timeMs: 0 });
    const reply = builder.build(record({ srcAddr: "198.18.1.200", dstAddr: "198.18.1.130", srcPort: 443, dstPort: 40000, direction: "ingress", tcpFlagsNow: 0x12 }));
    ring.push({ entry: reply, timeMs: 0 });
    expect(syn.flow.IP!.source_xlated).toBeUndefined();

    const nat = new NatTable();
    const key = nat.learn(natRecord());
    expect(patchRecent(ring.eventsNewestFirst(), key, "198.18.1.193", 2)).toBe(0);
    expect(patchRecent(ring.eventsNewestFirst(), key, "198.18.1.193", 16, 1)).toBe(0);
    expect(patchRecent(ring.eventsNewestFirst(), key, "198.18.1.193", 16)).toBe(1);
    expect(syn.flow.IP).toMatchObject({ source: "198.18.1.130", source_xlated: "198.18.1.193" });
    expect(syn.flow.flowlens!.source_xlated).toBe("198.18.1.193");
    expect(unrelated.flow.IP!.source_xlated).toBeUndefined();
    expect(reply.flow.IP!.source_xlated).toBeUndefined();
    expect(reply.flow.flowlens!.source_xlated).toBeUndefined();
  });
});
