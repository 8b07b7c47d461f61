// Aggregates flows into a workload-level service map: one node per workload,
// one edge per client -> server pair, with rates over a sliding window. The
// page receives this summary instead of raw flows, so its cost depends on the
// number of workloads, not on the number of pods or flows.
import type { Flow } from "../../proto/types";
import { timestampToMillis } from "../../proto/types";
import { serviceDirection, type WorkloadRef } from "../shared/flow-view";
import type { MapEdge, MapNode, ServiceMap } from "../shared/wire";

interface EdgeState {
  id: string;
  source: string;
  target: string;
  /** Time buckets of bucketMs each, indexed by bucket number % bucketCount. */
  flows: Float64Array;
  bytes: Float64Array;
  drops: Float64Array;
  bucketSecond: Float64Array;
  rttSumUs: number;
  rttCount: number;
  ports: Map<number, number>;
  lastSeenMs: number;
}

interface NodeState extends WorkloadRef {
  lastSeenMs: number;
}

export interface ServiceMapOptions {
  /** Seconds rates are averaged over. @default 10 */
  windowSeconds?: number;
  /** Workloads and edges idle this long leave the map. @default 300000 (5 min) */
  idleMs?: number;
  /**
   * The window is a closed interval ending at the snapshot time (history), so
   * every flow in it counts, even where the window starts mid-bucket.
   * @default false - a live window, where the current bucket is still filling
   */
  closedWindow?: boolean;
}

// Flow records carry cumulative byte counters; the map needs increments.
// Counters are remembered per connection, bounded so a churny cluster cannot
// grow this without limit.
const MAX_TRACKED_CONNECTIONS = 200_000;

export class ServiceMapAggregator {
  private readonly windowSeconds: number;
  private readonly bucketMs: number;
  private readonly bucketCount: number;
  private readonly idleMs: number;
  private readonly nodes = new Map<string, NodeState>();
  private readonly edges = new Map<string, EdgeState>();
  private readonly lastBytes = new Map<string, number>();
  private totalFlows: Float64Array;
  private totalSecond: Float64Array;

  constructor(options: ServiceMapOptions = {}) {
    this.windowSeconds = options.windowSeconds ?? 10;
    this.idleMs = options.idleMs ?? 300_000;
    // At most 60 buckets per edge, however long the window (a past day too).
    this.bucketMs = Math.ceil(this.windowSeconds / 60) * 1000;
    this.bucketCount = Math.ceil((this.windowSeconds * 1000) / this.bucketMs) + (options.closedWindow ? 1 : 0);
    this.totalFlows = new Float64Array(this.bucketCount);
    this.totalSecond = new Float64Array(this.bucketCount).fill(-1);
  }

  add(flow: Flow, nowMs: number = Date.now()): void {
    const timeMs = Math.min(timestampToMillis(flow.time) || nowMs, nowMs);
    const sides = serviceDirection(flow);
    this.touchNode(sides.source, timeMs);
    this.touchNode(sides.destination, timeMs);
    const id = `${sides.source.id}->${sides.destination.id}`;
    let edge = this.edges.get(id);
    if (!edge) {
      const w = this.bucketCount;
      edge = {
        id,
        source: sides.source.id,
        target: sides.destination.id,
        flows: new Float64Array(w),
        bytes: new Float64Array(w),
        drops: new Float64Array(w),
        bucketSecond: new Float64Array(w).fill(-1),
        rttSumUs: 0,
        rttCount: 0,
        ports: new Map(),
        lastSeenMs: timeMs,
      };
      this.edges.set(id, edge);
    }
    edge.lastSeenMs = Math.max(edge.lastSeenMs, timeMs);
    const dropped = flow.verdict === "DROPPED";
    const bytes = this.byteIncrement(flow);
    if (sides.destinationPort !== undefined) {
      edge.ports.set(sides.destinationPort, (edge.ports.get(sides.destinationPort) ?? 0) + 1);
    }
    const srtt = flow.flowlens?.srtt_us;
    if (srtt) {
      // Exponential average keeps the RTT current without storing samples.
      if (edge.rttCount === 0) edge.rttSumUs = srtt;
      else edge.rttSumUs = edge.rttSumUs * 0.8 + srtt * 0.2;
      edge.rttCount++;
    }
    const second = Math.floor(timeMs / this.bucketMs);
    if (second > Math.floor(nowMs / this.bucketMs) - this.bucketCount) {
      const slot = second % this.bucketCount;
      if (edge.bucketSecond[slot] !== second) {
        edge.bucketSecond[slot] = second;
        edge.flows[slot] = 0;
        edge.bytes[slot] = 0;
        edge.drops[slot] = 0;
      }
      edge.flows[slot]++;
      edge.bytes[slot] += bytes;
      if (dropped) edge.drops[slot]++;
      if (this.totalSecond[slot] !== second) {
        this.totalSecond[slot] = second;
        this.totalFlows[slot] = 0;
      }
      this.totalFlows[slot]++;
    }
  }

  /** Flows per second over the window, across all edges. */
  flowsPerSecond(nowMs: number = Date.now()): number {
    return this.sumWindow(this.totalFlows, this.totalSecond, nowMs) / this.windowSeconds;
  }

  snapshot(nowMs: number = Date.now()): ServiceMap {
    this.expire(nowMs);
    const edges: MapEdge[] = [];
    const nodeDrops = new Map<string, number>();
    for (const e of this.edges.values()) {
      const flows = this.sumWindow(e.flows, e.bucketSecond, nowMs);
      const bytes = this.sumWindow(e.bytes, e.bucketSecond, nowMs);
      const drops = this.sumWindow(e.drops, e.bucketSecond, nowMs);
      if (drops > 0) {
        nodeDrops.set(e.source, (nodeDrops.get(e.source) ?? 0) + drops);
        nodeDrops.set(e.target, (nodeDrops.get(e.target) ?? 0) + drops);
      }
      const ports = [...e.ports.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([p]) => p);
      edges.push({
        id: e.id,
        source: e.source,
        target: e.target,
        flowsPerSec: round(flows / this.windowSeconds),
        bytesPerSec: round(bytes / this.windowSeconds),
        rttUs: e.rttCount ? Math.round(e.rttSumUs) : undefined,
        drops,
        ports,
      });
    }
    const nodes: MapNode[] = [];
    for (const n of this.nodes.values()) {
      nodes.push({ id: n.id, namespace: n.namespace, name: n.name, kind: n.kind, drops: nodeDrops.get(n.id) ?? 0 });
    }
    return { nodes, edges, windowSeconds: this.windowSeconds };
  }

  private touchNode(ref: WorkloadRef, timeMs: number): void {
    const node = this.nodes.get(ref.id);
    if (node) node.lastSeenMs = Math.max(node.lastSeenMs, timeMs);
    else this.nodes.set(ref.id, { ...ref, lastSeenMs: timeMs });
  }

  private byteIncrement(flow: Flow): number {
    const total = flow.flowlens?.bytes;
    if (!total) return 0;
    const key = connectionKey(flow);
    const previous = this.lastBytes.get(key);
    if (previous === undefined && this.lastBytes.size >= MAX_TRACKED_CONNECTIONS) {
      // Maps iterate in insertion order: drop the oldest connection.
      const oldest = this.lastBytes.keys().next().value;
      if (oldest !== undefined) this.lastBytes.delete(oldest);
    }
    this.lastBytes.set(key, total);
    if (previous === undefined || total < previous) return total;
    return total - previous;
  }

  private sumWindow(values: Float64Array, seconds: Float64Array, nowMs: number): number {
    const oldest = Math.floor(nowMs / this.bucketMs) - this.bucketCount;
    let sum = 0;
    for (let i = 0; i < values.length; i++) if (seconds[i] > oldest) sum += values[i];
    return sum;
  }

  private expire(nowMs: number): void {
    const cutoff = nowMs - this.idleMs;
    for (const [id, e] of this.edges) if (e.lastSeenMs < cutoff) this.edges.delete(id);
    for (const [id, n] of this.nodes) {
      if (n.lastSeenMs < cutoff) this.nodes.delete(id);
    }
  }
}

/**
 * Builds a map of a closed time window: rates are totals divided by the
 * window's length, so a past hour reads in the same units as live.
 */
export function mapOfWindow(flows: Iterable<Flow>, sinceMs: number, untilMs: number): ServiceMap {
  const seconds = Math.max(1, Math.ceil((untilMs - sinceMs) / 1000));
  const agg = new ServiceMapAggregator({ windowSeconds: seconds, idleMs: Number.MAX_SAFE_INTEGER, closedWindow: true });
  for (const f of flows) agg.add(f, untilMs);
  return agg.snapshot(untilMs);
}

function connectionKey(flow: Flow): string {
  if (flow.socket_cookie) return `c${flow.socket_cookie}`;
  const l4 = flow.l4?.TCP ?? flow.l4?.UDP ?? flow.l4?.SCTP;
  return `${flow.IP?.source}:${l4?.source_port}>${flow.IP?.destination}:${l4?.destination_port}/${flow.node_name}`;
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
