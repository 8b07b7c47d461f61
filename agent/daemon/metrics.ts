// Prometheus metrics under Hubble's names (so existing dashboards work) plus
// Flowlens' own under flowlens_. Kernel records carry counters cumulative per
// flow; byte and packet metrics add only what grew since the flow's last record.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { IPPROTO_TCP, TCP_FLAGS, type ArrivalFields } from "../kernel/record";
import { dropReasonOf } from "./flow-entry";
import { AddressIds, FlowKeyTable } from "./flow-key-table";

/** Protocol label values as Hubble's metrics spell them (the Layer4 oneof names). */
const PROTOCOL_NAMES: Record<number, string> = { 1: "ICMPv4", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP" };
const PORTED = new Set([6, 17, 132]);

/**
 * A labelled counter whose increments add up in plain numbers and reach
 * prom-client when Prometheus scrapes: prom-client hashes the label set on
 * every inc(), which would cost more than building the flow itself.
 */
class BatchedCounter<L extends string> {
  // Two levels keyed by label values that are constants or numbers: V8 keeps the hash of a constant
  // string, while a key concatenated per record would be hashed afresh every time.
  private readonly pending = new Map<string, Map<string | number, { labels: Record<L, string>; value: number }>>();
  private readonly counter: Counter<L>;

  constructor(
    registry: Registry,
    name: string,
    help: string,
    labelNames: readonly L[],
    /** The label values a key pair stands for; called once per new pair. */
    private readonly labelsOf: (k1: string, k2: string | number) => Record<L, string>,
  ) {
    this.counter = new Counter({ name, help, labelNames, registers: [registry], collect: () => this.flush() });
  }

  add(k1: string, k2: string | number, value = 1): void {
    let inner = this.pending.get(k1);
    if (!inner) this.pending.set(k1, (inner = new Map()));
    const p = inner.get(k2);
    if (p) p.value += value;
    else inner.set(k2, { labels: this.labelsOf(k1, k2), value });
  }

  private flush(): void {
    for (const inner of this.pending.values()) {
      for (const p of inner.values()) {
        if (p.value > 0) this.counter.inc(p.labels, p.value);
        p.value = 0;
      }
    }
  }
}

export class AgentMetrics {
  readonly registry = new Registry();
  /** Packets and bytes of each flow direction's last record. */
  private readonly lastCounters: FlowKeyTable;
  private readonly addresses = new AddressIds();

  private readonly flowsProcessed = new BatchedCounter(this.registry, "hubble_flows_processed_total", "Total number of flows processed", ["type", "subtype", "verdict"], (verdict, subtype) => ({ type: verdict === "DROPPED" ? "Drop" : "Trace", subtype: String(subtype), verdict }));
  private readonly drops = new BatchedCounter(this.registry, "hubble_drop_total", "Number of drops", ["reason", "protocol"], (reason, protocol) => ({ reason, protocol: String(protocol) }));
  private readonly tcpFlags = new BatchedCounter(this.registry, "hubble_tcp_flags_total", "TCP flag occurrences", ["flag", "family"], (flag, family) => ({ flag, family: String(family) }));
  private readonly lostEvents = new Counter({ name: "hubble_lost_events_total", help: "Number of lost events", labelNames: ["source"], registers: [this.registry] });
  private readonly ports = new BatchedCounter(this.registry, "hubble_port_distribution_total", "Numbers of packets distributed by destination port", ["protocol", "port"], (protocol, port) => ({ protocol, port: String(port) }));
  private readonly bytes = new BatchedCounter(this.registry, "flowlens_flow_bytes_total", "Bytes seen on flows (L3 length)", ["protocol", "direction"], (protocol, direction) => ({ protocol, direction: String(direction) }));
  private readonly packets = new BatchedCounter(this.registry, "flowlens_flow_packets_total", "Packets seen on flows", ["protocol", "direction"], (protocol, direction) => ({ protocol, direction: String(direction) }));
  private readonly srtt = new Histogram({
    name: "flowlens_tcp_srtt_seconds",
    help: "Smoothed TCP round-trip time of connections at close",
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  private readonly retransmits = new Counter({ name: "flowlens_tcp_retransmits_total", help: "Retransmitted TCP segments", registers: [this.registry] });
  private readonly ringbufLost = new Counter({ name: "flowlens_ringbuf_lost_events_total", help: "Kernel records lost because the ring buffer was full", registers: [this.registry] });
  private readonly natEventOverflows = new Counter({ name: "flowlens_conntrack_event_overflows_total", help: "Times conntrack's event queue overflowed, losing egress NAT bindings", registers: [this.registry] });
  private readonly kernelEvents = new Counter({ name: "flowlens_kernel_events_total", help: "Kernel records received", registers: [this.registry] });
  readonly eventsPerSecond = new Gauge({ name: "flowlens_kernel_events_per_second", help: "Kernel records received per second over the last interval", registers: [this.registry] });
  readonly ringFlows = new Gauge({ name: "flowlens_ring_flows", help: "Flows held in the ring", registers: [this.registry] });

  /** @param flowCapacity flow directions remembered: as many as the kernel's flow table holds (65,536). */
  constructor(flowCapacity = 65536) {
    this.lastCounters = new FlowKeyTable(flowCapacity, 2);
    collectDefaultMetrics({ register: this.registry, prefix: "flowlens_agent_" });
  }

  /** Counts one kernel record as it arrives (no Flow object is built for metrics). */
  observe(record: ArrivalFields, isReply: boolean | undefined): void {
    const protocol = PROTOCOL_NAMES[record.protocol] ?? "unknown";
    const family = record.family === 6 ? "IPv6" : "IPv4";
    const dropReason = dropReasonOf(record);
    const verdict = dropReason ? "DROPPED" : "FORWARDED";
    const subtype = dropReason ? "" : record.direction === "ingress" ? "to-endpoint" : "from-endpoint";
    this.flowsProcessed.add(verdict, subtype);
    if (dropReason) this.drops.add(dropReason, protocol);

    if ((record.kind === "flow_start" || record.kind === "tcp_flags") && record.protocol === IPPROTO_TCP) {
      const bits = record.tcpFlagsNow;
      if (bits & TCP_FLAGS.SYN) this.tcpFlags.add(bits & TCP_FLAGS.ACK ? "SYN-ACK" : "SYN", family);
      if (bits & TCP_FLAGS.FIN) this.tcpFlags.add("FIN", family);
      if (bits & TCP_FLAGS.RST) this.tcpFlags.add("RST", family);
    }
    if (record.kind === "flow_start" && isReply !== true && PORTED.has(record.protocol)) {
      this.ports.add(protocol, record.dstPort);
    }
    if (record.kind === "flow_start" || record.kind === "tcp_flags" || record.kind === "flush") this.countDelta(record, protocol);
    if (record.kind === "sock_close" && record.srttUs > 0) this.srtt.observe(record.srttUs / 1e6);
    if (record.kind === "retransmit") this.retransmits.inc();
  }

  private countDelta(r: ArrivalFields, protocol: string): void {
    // One hook's view of one direction; both hooks on one packet would count it twice anyway.
    const src = this.addresses.endpoint(r.srcAddr, r.family, r.srcPort);
    const dst = this.addresses.endpoint(r.dstAddr, r.family, r.dstPort);
    const c = r.protocol * 4 + (r.direction === "ingress" ? 1 : r.direction === "egress" ? 2 : 0);
    // A new key starts at zero, so its first record counts whole.
    const slot = this.lastCounters.insert(src, dst, c);
    const last = this.lastCounters.values;
    let dp = r.packets;
    let db = r.bytes;
    // A flow re-created in the kernel (evicted, then seen again) starts from zero.
    if (r.packets >= last[slot * 2] && r.bytes >= last[slot * 2 + 1]) {
      dp -= last[slot * 2];
      db -= last[slot * 2 + 1];
    }
    last[slot * 2] = r.packets;
    last[slot * 2 + 1] = r.bytes;
    if (dp > 0) this.packets.add(protocol, r.direction, dp);
    if (db > 0) this.bytes.add(protocol, r.direction, db);
  }

  /** Counts one batch of kernel records. */
  received(count: number): void {
    this.kernelEvents.inc(count);
  }

  /** Records lost in the kernel ring buffer (source PERF_EVENT_RING_BUFFER, as Hubble names it). */
  lostInKernel(count: number): void {
    this.lostEvents.inc({ source: "PERF_EVENT_RING_BUFFER" }, count);
    this.ringbufLost.inc(count);
  }

  /** Conntrack event queue overflows since the last call (egress NAT bindings lost). */
  natEventsOverflowed(count: number): void {
    this.natEventOverflows.inc(count);
  }

  /** Responses dropped for slow GetFlows followers. */
  lostInObserver(count: number): void {
    this.lostEvents.inc({ source: "OBSERVER_EVENTS_QUEUE" }, count);
  }
}
