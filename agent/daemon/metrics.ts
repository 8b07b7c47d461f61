// Prometheus metrics under Hubble's names (so existing dashboards work) plus
// Flowlens' own under flowlens_. Kernel records carry counters cumulative per
// flow; byte and packet metrics add only what grew since the flow's last record.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Flow } from "../../proto/types";
import type { KernelRecord } from "../kernel/record";
import { EVENT_TYPE_DROP, TRACE_TO_ENDPOINT } from "./flow-builder";

const SUBTYPES: Record<number, string> = { [TRACE_TO_ENDPOINT]: "to-endpoint", 5: "from-endpoint" };

/** Label children cached by their label values: prom-client hashes the label object on every inc() otherwise. */
class LabelCache<L extends string> {
  private readonly children = new Map<string, { inc(v?: number): void }>();
  constructor(private readonly counter: Counter<L>) {}
  inc(labels: Record<L, string>, key: string, value = 1): void {
    let child = this.children.get(key);
    if (!child) {
      child = this.counter.labels(labels);
      this.children.set(key, child);
    }
    child.inc(value);
  }
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly lastCounters = new Map<string, { packets: number; bytes: number }>();

  private readonly flowsProcessed = new Counter({ name: "hubble_flows_processed_total", help: "Total number of flows processed", labelNames: ["type", "subtype", "verdict"], registers: [this.registry] });
  private readonly drops = new Counter({ name: "hubble_drop_total", help: "Number of drops", labelNames: ["reason", "protocol"], registers: [this.registry] });
  private readonly tcpFlags = new Counter({ name: "hubble_tcp_flags_total", help: "TCP flag occurrences", labelNames: ["flag", "family"], registers: [this.registry] });
  private readonly lostEvents = new Counter({ name: "hubble_lost_events_total", help: "Number of lost events", labelNames: ["source"], registers: [this.registry] });
  private readonly ports = new Counter({ name: "hubble_port_distribution_total", help: "Numbers of packets distributed by destination port", labelNames: ["protocol", "port"], registers: [this.registry] });
  private readonly bytes = new Counter({ name: "flowlens_flow_bytes_total", help: "Bytes seen on flows (L3 length)", labelNames: ["protocol", "direction"], registers: [this.registry] });
  private readonly packets = new Counter({ name: "flowlens_flow_packets_total", help: "Packets seen on flows", labelNames: ["protocol", "direction"], registers: [this.registry] });
  private readonly srtt = new Histogram({
    name: "flowlens_tcp_srtt_seconds",
    help: "Smoothed TCP round-trip time of connections at close",
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  private readonly retransmits = new Counter({ name: "flowlens_tcp_retransmits_total", help: "Retransmitted TCP segments", registers: [this.registry] });
  private readonly ringbufLost = new Counter({ name: "flowlens_ringbuf_lost_events_total", help: "Kernel records lost because the ring buffer was full", registers: [this.registry] });
  private readonly kernelEvents = new Counter({ name: "flowlens_kernel_events_total", help: "Kernel records received", registers: [this.registry] });
  readonly eventsPerSecond = new Gauge({ name: "flowlens_kernel_events_per_second", help: "Kernel records received per second over the last interval", registers: [this.registry] });
  readonly ringFlows = new Gauge({ name: "flowlens_ring_flows", help: "Flows held in the ring", registers: [this.registry] });

  private readonly flowsProcessedBy = new LabelCache(this.flowsProcessed);
  private readonly bytesBy = new LabelCache(this.bytes);
  private readonly packetsBy = new LabelCache(this.packets);

  constructor(private readonly flowCapacity = 131072) {
    collectDefaultMetrics({ register: this.registry, prefix: "flowlens_agent_" });
  }

  observe(record: KernelRecord, flow: Flow): void {
    this.kernelEvents.inc();
    const protocol = flow.l4 ? Object.keys(flow.l4)[0] ?? "unknown" : "unknown";
    const family = flow.IP?.ipVersion ?? "IP_NOT_USED";
    const verdict = flow.verdict ?? "VERDICT_UNKNOWN";
    const dropped = flow.event_type?.type === EVENT_TYPE_DROP;
    const type = dropped ? "Drop" : "Trace";
    const subtype = dropped ? "" : (SUBTYPES[flow.event_type?.sub_type ?? -1] ?? "");
    this.flowsProcessedBy.inc({ type, subtype, verdict }, `${type}|${subtype}|${verdict}`);
    if (dropped) this.drops.inc({ reason: flow.drop_reason_desc ?? "DROP_REASON_UNKNOWN", protocol });

    if (record.kind === "flow_start" || record.kind === "tcp_flags") {
      const flags = flow.l4?.TCP?.flags;
      if (flags) {
        if (flags.SYN) this.tcpFlags.inc({ flag: flags.ACK ? "SYN-ACK" : "SYN", family });
        if (flags.FIN) this.tcpFlags.inc({ flag: "FIN", family });
        if (flags.RST) this.tcpFlags.inc({ flag: "RST", family });
      }
    }
    if (record.kind === "flow_start" && flow.is_reply?.value !== true) {
      const dport = flow.l4?.TCP?.destination_port ?? flow.l4?.UDP?.destination_port ?? flow.l4?.SCTP?.destination_port;
      if (dport !== undefined) this.ports.inc({ protocol, port: String(dport) });
    }
    if (record.kind === "flow_start" || record.kind === "tcp_flags" || record.kind === "flush") this.countDelta(record, protocol);
    if (record.kind === "sock_close" && record.srttUs > 0) this.srtt.observe(record.srttUs / 1e6);
    if (record.kind === "retransmit") this.retransmits.inc();
  }

  private countDelta(r: KernelRecord, protocol: string): void {
    const key = `${r.protocol}|${r.srcAddr}|${r.srcPort}|${r.dstAddr}|${r.dstPort}|${r.direction}|${r.cgroupId}|${r.hook}`;
    const last = this.lastCounters.get(key);
    // A flow re-created in the kernel (evicted, then seen again) starts from zero.
    const restarted = !last || r.packets < last.packets || r.bytes < last.bytes;
    const dp = restarted ? r.packets : r.packets - last.packets;
    const db = restarted ? r.bytes : r.bytes - last.bytes;
    this.lastCounters.delete(key);
    this.lastCounters.set(key, { packets: r.packets, bytes: r.bytes });
    if (this.lastCounters.size > this.flowCapacity) this.lastCounters.delete(this.lastCounters.keys().next().value!);
    const labels = { protocol, direction: r.direction };
    const labelKey = `${protocol}|${r.direction}`;
    if (dp > 0) this.packetsBy.inc(labels, labelKey, dp);
    if (db > 0) this.bytesBy.inc(labels, labelKey, db);
  }

  /** Records lost in the kernel ring buffer (source PERF_EVENT_RING_BUFFER, as Hubble names it). */
  lostInKernel(count: number): void {
    this.lostEvents.inc({ source: "PERF_EVENT_RING_BUFFER" }, count);
    this.ringbufLost.inc(count);
  }

  /** Responses dropped for slow GetFlows followers. */
  lostInObserver(count: number): void {
    this.lostEvents.inc({ source: "OBSERVER_EVENTS_QUEUE" }, count);
  }
}
