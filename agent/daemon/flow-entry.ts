// What the ring keeps per kernel record, as columns (typed arrays and arrays of shared references), and
// the Hubble Flow built from them when read. A full ring is one block of record bytes plus a few arrays:
// no object per entry for the garbage collector to promote, trace and compact.
import { randomBytes } from "node:crypto";
import { decodeRecordAt, FL_RECORD_SIZE, type KernelRecord } from "../kernel/record";
import type { Endpoint, Flow, Layer4, TCPFlags, TrafficDirection } from "../../proto/types";
import { timestampFromNanos } from "../../proto/types";
import type { PodInfo, ServiceInfo } from "../enrichment/types";
import { HUBBLE_DROP_REASON_CODES, hubbleDropReason, type HubbleDropReason } from "./drop-reasons";

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_SCTP = 132;

/** Hubble's monitor event types and trace observation points, for `event_type`. */
const EVENT_TYPE_DROP = 1;
const EVENT_TYPE_TRACE = 4;
const TRACE_TO_ENDPOINT = 0;
const TRACE_FROM_ENDPOINT = 5;

const FLAG_BITS: [keyof TCPFlags, number][] = [
  ["FIN", 0x01],
  ["SYN", 0x02],
  ["RST", 0x04],
  ["PSH", 0x08],
  ["ACK", 0x10],
  ["URG", 0x20],
  ["ECE", 0x40],
  ["CWR", 0x80],
];

// Small immutable parts that repeat across flows are shared rather than allocated per flow.
const FLAGS_BY_BITS: TCPFlags[] = Array.from({ length: 256 }, (_, bits) => {
  const flags: TCPFlags = {};
  for (const [name, bit] of FLAG_BITS) if (bits & bit) flags[name] = true;
  return Object.freeze(flags);
});
const IS_REPLY = Object.freeze({ value: true });
const IS_REQUEST = Object.freeze({ value: false });
const eventTypes = new Map<number, { type: number; sub_type: number }>();

function eventType(type: number, subType: number): { type: number; sub_type: number } {
  const key = type * 65536 + subType;
  let e = eventTypes.get(key);
  if (!e) {
    e = Object.freeze({ type, sub_type: subType });
    eventTypes.set(key, e);
  }
  return e;
}

// Flows are never modified after they are built, so every flow of a pod shares one Endpoint: a full
// ring then holds one copy of each pod's labels, not one per flow.
const endpoints = new WeakMap<PodInfo, Endpoint>();
const NO_ENDPOINT: Endpoint = Object.freeze({});

function endpointOf(pod: PodInfo | undefined): Endpoint {
  if (!pod) return NO_ENDPOINT;
  let ep = endpoints.get(pod);
  if (!ep) {
    ep = Object.freeze({
      namespace: pod.namespace,
      pod_name: pod.name,
      labels: Object.entries(pod.labels).map(([k, v]) => `${k}=${v}`),
      workloads: pod.workloads.map((w) => ({ name: w.name, kind: w.kind })),
    });
    endpoints.set(pod, ep);
  }
  return ep;
}

function flip(d: TrafficDirection): TrafficDirection {
  return d === "INGRESS" ? "EGRESS" : d === "EGRESS" ? "INGRESS" : d;
}

export const SOCKET_KINDS = new Set(["sock_open", "sock_established", "sock_close", "retransmit"]);

export function dropReasonOf(r: Pick<KernelRecord, "kind" | "dropReasonName">): HubbleDropReason | undefined {
  return r.kind === "drop" ? hubbleDropReason(r.dropReasonName) : undefined;
}

function trafficDirectionOf(r: KernelRecord, isReply: boolean | undefined): TrafficDirection {
  const packetDirection: TrafficDirection = r.direction === "ingress" ? "INGRESS" : r.direction === "egress" ? "EGRESS" : "TRAFFIC_DIRECTION_UNKNOWN";
  return SOCKET_KINDS.has(r.kind) || isReply !== true ? packetDirection : flip(packetDirection);
}

function tcpFlagBitsOf(r: KernelRecord): number {
  return r.kind === "flow_start" || r.kind === "tcp_flags" || r.kind === "drop" ? r.tcpFlagsNow : r.tcpFlags;
}

/**
 * Flow UUIDs that stay the same on every read: a random prefix per agent run
 * and the entry's sequence number, in UUID form (version 4 and variant bits set).
 */
export class FlowIds {
  private readonly prefix: string;

  constructor(readonly nodeName: string) {
    const hex = randomBytes(8).toString("hex");
    this.prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}`;
  }

  uuid(seq: number): string {
    const hex = seq.toString(16).padStart(15, "0");
    return `${this.prefix}-8${hex.slice(0, 3)}-${hex.slice(3)}`;
  }
}

/** A JavaScript array of `n` undefined slots in V8's fast (packed) representation, whatever `n`. */
function slots<T>(n: number): (T | undefined)[] {
  const a: (T | undefined)[] = [];
  for (let i = 0; i < n; i++) a.push(undefined);
  return a;
}

const NO_REPLY_STATUS = -1;
const NO_ICMP = -1;

/**
 * Entries by slot: the kernel record's bytes (decoded again on each read) and what was resolved at its
 * arrival (pods, services, reply status, ICMP type, sequence number). Records that only exist decoded
 * (built in tests) are kept as objects instead of bytes.
 */
const RECORD_WORDS = FL_RECORD_SIZE / 4;

export class FlowColumns {
  readonly bytes: Buffer;
  private readonly words: Int32Array;
  /** The last batch's bytes as 32-bit words, made again only when another batch Buffer arrives. */
  private batchWords: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private batch: Buffer | undefined;
  private readonly bootToWallNs: BigInt64Array;
  private readonly decoded: (KernelRecord | undefined)[];
  readonly sourcePod: (PodInfo | undefined)[];
  readonly destinationPod: (PodInfo | undefined)[];
  readonly sourceService: (ServiceInfo | undefined)[];
  readonly destinationService: (ServiceInfo | undefined)[];
  readonly sourceXlated: (string | undefined)[];
  private readonly replyStatus: Int8Array;
  private readonly icmp: Int16Array;
  private readonly seq: Float64Array;

  constructor(
    readonly capacity: number,
    readonly ids: FlowIds,
  ) {
    this.bytes = Buffer.alloc(capacity * FL_RECORD_SIZE);
    this.words = new Int32Array(this.bytes.buffer, this.bytes.byteOffset, capacity * RECORD_WORDS);
    this.bootToWallNs = new BigInt64Array(capacity);
    this.decoded = slots(capacity);
    this.sourcePod = slots(capacity);
    this.destinationPod = slots(capacity);
    this.sourceService = slots(capacity);
    this.destinationService = slots(capacity);
    this.sourceXlated = slots(capacity);
    this.replyStatus = new Int8Array(capacity);
    this.icmp = new Int16Array(capacity);
    this.seq = new Float64Array(capacity);
  }

  /** Copies the record at `offset` of `batch` into `slot`, replacing what the slot held. */
  storeBytes(slot: number, batch: Buffer, offset: number, bootToWallNs: bigint): void {
    if ((batch.byteOffset & 3) === 0) {
      // Word by word through typed arrays: Buffer#copy makes a view object per call.
      if (batch !== this.batch) {
        this.batch = batch;
        this.batchWords = new Int32Array(batch.buffer, batch.byteOffset, batch.byteLength >> 2);
      }
      const from = this.batchWords;
      const to = this.words;
      for (let i = 0, s = offset >> 2, d = slot * RECORD_WORDS; i < RECORD_WORDS; i++) to[d + i] = from[s + i];
    } else {
      batch.copy(this.bytes, slot * FL_RECORD_SIZE, offset, offset + FL_RECORD_SIZE);
    }
    this.bootToWallNs[slot] = bootToWallNs;
    this.decoded[slot] = undefined;
  }

  /** Keeps a decoded record in `slot`. */
  storeDecoded(slot: number, record: KernelRecord): void {
    this.decoded[slot] = record;
  }

  /** Sets what was resolved at arrival for the record in `slot`. */
  resolve(
    slot: number,
    seq: number,
    sourcePod: PodInfo | undefined,
    destinationPod: PodInfo | undefined,
    sourceService: ServiceInfo | undefined,
    destinationService: ServiceInfo | undefined,
    isReply: boolean | undefined,
    icmp: number,
  ): void {
    this.seq[slot] = seq;
    this.sourcePod[slot] = sourcePod;
    this.destinationPod[slot] = destinationPod;
    this.sourceService[slot] = sourceService;
    this.destinationService[slot] = destinationService;
    this.replyStatus[slot] = isReply === undefined ? NO_REPLY_STATUS : isReply ? 1 : 0;
    this.icmp[slot] = icmp;
    this.sourceXlated[slot] = undefined;
  }

  record(slot: number): KernelRecord {
    return this.decoded[slot] ?? decodeRecordAt(this.bytes, slot * FL_RECORD_SIZE, this.bootToWallNs[slot]);
  }

  isReply(slot: number): boolean | undefined {
    const s = this.replyStatus[slot];
    return s === NO_REPLY_STATUS ? undefined : s === 1;
  }

  /** ICMP type * 256 + code, or -1 for records without one. */
  icmpOf(slot: number): number {
    return this.icmp[slot];
  }

  uuid(slot: number): string {
    return this.ids.uuid(this.seq[slot]);
  }

  /** A view of `slot`, made on each call; it reads whatever the slot holds at the time. */
  entry(slot: number): FlowEntry {
    return new FlowEntry(this, slot);
  }
}

/** One ring entry, read from its columns: the kernel record and the Hubble Flow are built on each read. */
export class FlowEntry {
  constructor(
    private readonly columns: FlowColumns,
    private readonly slot: number,
  ) {}

  get record(): KernelRecord {
    return this.columns.record(this.slot);
  }

  get sourcePod(): PodInfo | undefined {
    return this.columns.sourcePod[this.slot];
  }

  get destinationPod(): PodInfo | undefined {
    return this.columns.destinationPod[this.slot];
  }

  get isReply(): boolean | undefined {
    return this.columns.isReply(this.slot);
  }

  /** The source after egress NAT (nat-table.ts), set when the node's NAT binding for the connection is known. */
  get sourceXlated(): string | undefined {
    return this.columns.sourceXlated[this.slot];
  }

  set sourceXlated(address: string | undefined) {
    this.columns.sourceXlated[this.slot] = address;
  }

  get dropped(): boolean {
    return this.record.kind === "drop";
  }

  get dropReason(): HubbleDropReason | undefined {
    return dropReasonOf(this.record);
  }

  /** Hubble's traffic direction: packet records flip for replies, socket records are already oriented by connection. */
  get trafficDirection(): TrafficDirection {
    return trafficDirectionOf(this.record, this.isReply);
  }

  /** Flags of the packet for packet events, every flag seen so far for flushes. */
  get tcpFlagBits(): number {
    return tcpFlagBitsOf(this.record);
  }

  /** A new Flow object on every call (never cached: the ring stays compact). */
  get flow(): Flow {
    const c = this.columns;
    const slot = this.slot;
    const r = c.record(slot);
    const isReply = c.isReply(slot);
    const dropReason = dropReasonOf(r);
    const flow: Flow = {
      time: timestampFromNanos(r.timeNs),
      uuid: c.uuid(slot),
      verdict: dropReason ? "DROPPED" : "FORWARDED",
      IP: { source: r.srcAddr, destination: r.dstAddr, ipVersion: r.family === 6 ? "IPv6" : "IPv4" },
      l4: layer4(r, tcpFlagBitsOf(r), c.icmpOf(slot)),
      source: endpointOf(c.sourcePod[slot]),
      destination: endpointOf(c.destinationPod[slot]),
      Type: "L3_L4",
      node_name: c.ids.nodeName,
      event_type: dropReason
        ? eventType(EVENT_TYPE_DROP, HUBBLE_DROP_REASON_CODES[dropReason])
        : eventType(EVENT_TYPE_TRACE, r.direction === "ingress" ? TRACE_TO_ENDPOINT : TRACE_FROM_ENDPOINT),
      traffic_direction: trafficDirectionOf(r, isReply),
      flowlens: {
        packets: r.packets,
        bytes: r.bytes,
        event: r.kind,
      },
    };
    const sourceXlated = c.sourceXlated[slot];
    if (sourceXlated) {
      flow.IP!.source_xlated = sourceXlated;
      flow.flowlens!.source_xlated = sourceXlated;
    }
    if (isReply !== undefined) {
      flow.is_reply = isReply ? IS_REPLY : IS_REQUEST;
      flow.reply = isReply;
    }
    if (dropReason) {
      flow.drop_reason = HUBBLE_DROP_REASON_CODES[dropReason];
      flow.drop_reason_desc = dropReason as never;
      flow.flowlens!.kernel_drop_reason = r.dropReasonName;
    }
    const sourceService = c.sourceService[slot];
    const destinationService = c.destinationService[slot];
    if (sourceService) flow.source_service = { namespace: sourceService.namespace, name: sourceService.name };
    if (destinationService) flow.destination_service = { namespace: destinationService.namespace, name: destinationService.name };
    if (r.ifindex) flow.interface = { index: r.ifindex };
    if (r.sockCookie) flow.socket_cookie = Number(r.sockCookie);
    if (r.cgroupId) flow.cgroup_id = Number(r.cgroupId);
    if (r.firstSeenNs) flow.flowlens!.first_seen = timestampFromNanos(r.firstSeenNs);
    if (r.lastSeenNs) flow.flowlens!.last_seen = timestampFromNanos(r.lastSeenNs);
    if (SOCKET_KINDS.has(r.kind)) {
      // Socket counters are the local socket's: it is this flow's source.
      flow.flowlens!.bytes_sent = r.bytesAcked;
      flow.flowlens!.bytes_received = r.bytesReceived;
      flow.flowlens!.srtt_us = r.srttUs;
      flow.flowlens!.retransmits = r.totalRetrans;
      if (r.connectLatencyNs) flow.flowlens!.connect_latency_ns = r.connectLatencyNs;
    }
    return flow;
  }
}

function layer4(r: KernelRecord, flags: number, icmp: number): Layer4 {
  const ports = { source_port: r.srcPort, destination_port: r.dstPort };
  const type = icmp === NO_ICMP ? 0 : icmp >> 8;
  const code = icmp === NO_ICMP ? 0 : icmp & 0xff;
  switch (r.protocol) {
    case IPPROTO_TCP:
      return { TCP: { ...ports, flags: FLAGS_BY_BITS[flags & 0xff] } };
    case IPPROTO_UDP:
      return { UDP: ports };
    case IPPROTO_SCTP:
      return { SCTP: ports };
    case IPPROTO_ICMP:
      return { ICMPv4: { type, code } };
    case IPPROTO_ICMPV6:
      return { ICMPv6: { type, code } };
    default:
      return {};
  }
}
