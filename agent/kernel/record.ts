/**
 * Decoder for the records the kernel programs send through the ring buffer. Mirrors struct fl_record
 * and struct fl_flow_key/fl_flow_value in bpf/include/flowlens_events.h (little-endian hosts).
 *
 * Orientation of the addresses:
 * - packet records (flow_start, tcp_flags, flush, drop): source and destination as on the wire;
 * - socket records (sock_*, retransmit): source = the local end of the socket, destination = the remote end.
 * `direction` is relative to the workload in `cgroupId`: for socket records, egress = the local end
 * connected (active open), ingress = it accepted the connection (passive open). The sock_open record of an
 * active open has srcPort 0: the kernel picks the local port right after that state change.
 * A nat record carries a connection's original tuple (egress, cgroupId 0n, ports 0 for ICMP) and, in
 * xlatedSrcAddr/xlatedSrcPort, its source after translation.
 */
import { formatAddress, formatIpv4 } from "./address";
import { dropReasonName } from "./drop-reasons";
import { loadNative } from "./native";

export const FL_RECORD_VERSION = 1;
export const FL_RECORD_SIZE = 152;
export const FL_FLOW_KEY_SIZE = 48;
export const FL_FLOW_VALUE_SIZE = 48;

export type RecordKind =
  | "flow_start"
  | "tcp_flags"
  | "flush"
  | "sock_open"
  | "sock_established"
  | "sock_close"
  | "retransmit"
  | "drop"
  | "nat";

export type Direction = "unknown" | "ingress" | "egress";
export type Hook = "unknown" | "cgroup_skb" | "tc" | "sock" | "kfree_skb" | "retransmit" | "nat";

const KINDS: Record<number, RecordKind> = {
  1: "flow_start",
  2: "tcp_flags",
  3: "flush",
  4: "sock_open",
  5: "sock_established",
  6: "sock_close",
  7: "retransmit",
  8: "drop",
  9: "nat",
};
const DIRECTIONS: Direction[] = ["unknown", "ingress", "egress"];
const HOOKS: Hook[] = ["unknown", "cgroup_skb", "tc", "sock", "kfree_skb", "retransmit", "nat"];

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/** Bits of the TCP header's flags byte, as in `tcpFlags` / `tcpFlagsNow`. */
export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;
export type TcpFlagName = keyof typeof TCP_FLAGS;

export function tcpFlagNames(mask: number): TcpFlagName[] {
  return (Object.keys(TCP_FLAGS) as TcpFlagName[]).filter((name) => (mask & TCP_FLAGS[name]) !== 0);
}

/** Linux TCP states (`sockState` of socket records). */
export const TCP_STATES: Record<number, string> = {
  1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
  7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
};

export interface FlowKey {
  /** "198.18.1.2" (IPv4, unmapped) or "fd00::1"; "" when unknown. */
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  /** IP protocol number (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6). */
  protocol: number;
  /** 4, 6, or 0 when unknown. */
  family: number;
  direction: Direction;
  /** cgroup v2 id (the cgroup directory's inode number) of the socket's cgroup; 0n when unknown. */
  cgroupId: bigint;
}

export interface KernelRecord extends FlowKey {
  kind: RecordKind;
  hook: Hook;
  /** OR of the TCP flags seen on the flow so far. */
  tcpFlags: number;
  /** TCP flags of the packet that produced this record. */
  tcpFlagsNow: number;
  icmpType: number;
  icmpCode: number;
  /** New TCP state (TCP_STATES) for socket records, else 0. */
  sockState: number;
  /** enum skb_drop_reason of the running kernel for drop records, else 0. */
  dropReason: number;
  /** The kernel's name for dropReason, e.g. "NETFILTER_DROP"; "" for other records. */
  dropReasonName: string;
  ifindex: number;
  /** When the record was made, wall-clock ns since the Unix epoch. */
  timeNs: bigint;
  /** Packets and bytes (L3 length) since flow start in this direction; socket records: segments sent. */
  packets: number;
  bytes: number;
  /** Wall-clock ns; 0n when unknown. */
  firstSeenNs: bigint;
  lastSeenNs: bigint;
  /** Kernel socket cookie; 0n when unknown. */
  sockCookie: bigint;
  /** tcp_sock counters (socket records). */
  bytesAcked: number;
  bytesReceived: number;
  connectLatencyNs: number;
  srttUs: number;
  totalRetrans: number;
  /** Network namespace inode; 0 when unknown. For nat records, the namespace where the NAT ran. */
  netnsIno: number;
  /** nat records: the source address and port after translation; "" and 0 for other records. */
  xlatedSrcAddr: string;
  xlatedSrcPort: number;
}

const OFFSET_REFRESH_MS = 10_000;
let cachedOffset: { value: bigint; at: number } | undefined;

/** Wall-clock minus boot-time in ns (refreshed every 10 s to follow clock adjustments). */
export function bootToWallClockOffsetNs(): bigint {
  const now = Date.now();
  if (!cachedOffset || now - cachedOffset.at > OFFSET_REFRESH_MS) {
    cachedOffset = { value: loadNative().bootToWallClockOffsetNs(), at: now };
  }
  return cachedOffset.value;
}

function toWall(bootNs: bigint, offset: bigint): bigint {
  return bootNs === 0n ? 0n : bootNs + offset;
}

/** A DataView over a Buffer: V8 optimizes its little-endian reads far better than Buffer's readers. */
function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** An unsigned 64-bit little-endian counter as a Number (exact below 2^53, far beyond any counter here). */
function u64(dv: DataView, o: number): number {
  return dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 0x1_0000_0000;
}

/** Decodes a struct fl_flow_key at `offset`. */
export function decodeFlowKey(buf: Buffer, offset: number): FlowKey {
  const dv = viewOf(buf);
  const family = buf[offset + 37];
  return {
    srcAddr: formatAddress(buf, offset, family),
    dstAddr: formatAddress(buf, offset + 16, family),
    srcPort: dv.getUint16(offset + 32, true),
    dstPort: dv.getUint16(offset + 34, true),
    protocol: buf[offset + 36],
    family,
    direction: DIRECTIONS[buf[offset + 38]] ?? "unknown",
    cgroupId: dv.getBigUint64(offset + 40, true),
  };
}

// One object literal with every field in a fixed order keeps records on one V8 hidden class.
function decodeOne(buf: Buffer, dv: DataView, o: number, offset: bigint): KernelRecord {
  const kindCode = buf[o];
  const kind = KINDS[kindCode];
  if (!kind) throw new Error(`kernel record at byte ${o}: unknown kind ${kindCode}`);
  const version = buf[o + 1];
  if (version !== FL_RECORD_VERSION) {
    throw new Error(`kernel record at byte ${o}: version ${version}, this decoder reads version ${FL_RECORD_VERSION}; rebuild with \`make bpf\``);
  }
  const dropReason = dv.getUint32(o + 8, true);
  const k = o + 24;
  const family = buf[k + 37];
  return {
    srcAddr: formatAddress(buf, k, family),
    dstAddr: formatAddress(buf, k + 16, family),
    srcPort: dv.getUint16(k + 32, true),
    dstPort: dv.getUint16(k + 34, true),
    protocol: buf[k + 36],
    family,
    direction: DIRECTIONS[buf[k + 38]] ?? "unknown",
    cgroupId: dv.getBigUint64(k + 40, true),
    kind,
    hook: HOOKS[buf[o + 2]] ?? "unknown",
    tcpFlags: buf[o + 3],
    tcpFlagsNow: buf[o + 4],
    icmpType: buf[o + 5],
    icmpCode: buf[o + 6],
    sockState: buf[o + 7],
    dropReason,
    dropReasonName: kind === "drop" ? dropReasonName(dropReason) : "",
    ifindex: dv.getUint32(o + 12, true),
    timeNs: toWall(dv.getBigUint64(o + 16, true), offset),
    packets: u64(dv, o + 72),
    bytes: u64(dv, o + 80),
    firstSeenNs: toWall(dv.getBigUint64(o + 88, true), offset),
    lastSeenNs: toWall(dv.getBigUint64(o + 96, true), offset),
    sockCookie: dv.getBigUint64(o + 104, true),
    // nat records hold the translated address in these bytes.
    bytesAcked: kind === "nat" ? 0 : u64(dv, o + 112),
    bytesReceived: kind === "nat" ? 0 : u64(dv, o + 120),
    connectLatencyNs: u64(dv, o + 128),
    srttUs: dv.getUint32(o + 136, true),
    totalRetrans: dv.getUint32(o + 140, true),
    netnsIno: dv.getUint32(o + 144, true),
    xlatedSrcAddr: kind === "nat" ? formatAddress(buf, o + 112, family) : "",
    xlatedSrcPort: kind === "nat" ? dv.getUint16(o + 148, true) : 0,
  };
}

/** Decodes the one record at byte `offset` of `buf` (a batch kept raw and read again later). */
export function decodeRecordAt(buf: Buffer, offset: number, bootToWallNs: bigint): KernelRecord {
  return decodeOne(buf, viewOf(buf), offset, bootToWallNs);
}

/**
 * Decodes records concatenated in `buf` (FL_RECORD_SIZE bytes each).
 * @param bootToWallNs added to kernel boot-time stamps. @default bootToWallClockOffsetNs()
 */
export function decodeRecords(buf: Buffer, bootToWallNs: bigint = bootToWallClockOffsetNs()): KernelRecord[] {
  if (buf.length % FL_RECORD_SIZE !== 0) {
    throw new Error(`kernel record buffer of ${buf.length} bytes is not a multiple of the ${FL_RECORD_SIZE}-byte record size`);
  }
  const records: KernelRecord[] = new Array(buf.length / FL_RECORD_SIZE);
  const dv = viewOf(buf);
  for (let i = 0, o = 0; o < buf.length; i++, o += FL_RECORD_SIZE) records[i] = decodeOne(buf, dv, o, bootToWallNs);
  return records;
}

const FL_REC_FLUSH = 3;
const HOOK_CODES: Record<Hook, number> = { unknown: 0, cgroup_skb: 1, tc: 2, sock: 3, kfree_skb: 4, retransmit: 5, nat: 6 };

/**
 * Writes the periodic "flush" record of one flow-map entry (key + struct fl_flow_value) as a struct
 * fl_record at `out[o]`, so flushes travel the same path as ring-buffer records.
 */
export function writeFlushRecord(out: Buffer, o: number, keys: Buffer, keyOffset: number, values: Buffer, valueOffset: number, hook: Hook, nowBootNs: bigint): void {
  out.fill(0, o, o + FL_RECORD_SIZE);
  out[o] = FL_REC_FLUSH;
  out[o + 1] = FL_RECORD_VERSION;
  out[o + 2] = HOOK_CODES[hook];
  out[o + 3] = values[valueOffset + 44];
  out.writeUInt32LE(values.readUInt32LE(valueOffset + 40), o + 12);
  out.writeBigUInt64LE(nowBootNs, o + 16);
  keys.copy(out, o + 24, keyOffset, keyOffset + FL_FLOW_KEY_SIZE);
  // packets, bytes, first seen, last seen and socket cookie sit in the same order in both structs.
  values.copy(out, o + 72, valueOffset, valueOffset + 40);
}

/** The fields the daemon reads from every record on arrival. */
export type ArrivalFields = Pick<
  KernelRecord,
  | "kind" | "protocol" | "family" | "direction" | "srcAddr" | "dstAddr" | "srcPort" | "dstPort" | "cgroupId"
  | "tcpFlags" | "tcpFlagsNow" | "icmpType" | "icmpCode" | "packets" | "bytes" | "dropReasonName" | "srttUs"
>;

const TWO_32 = 0x1_0000_0000;

/**
 * Reads the arrival fields of one record after another from a batch's bytes into itself, so the per-record
 * path allocates nothing: IPv4 address strings and cgroup ids are cached by their numeric value (the same
 * few recur in every batch, and reusing one string also reuses its hash in Map lookups).
 */
export class RecordCursor implements ArrivalFields {
  kind: RecordKind = "flow_start";
  protocol = 0;
  family = 0;
  direction: Direction = "unknown";
  srcAddr = "";
  dstAddr = "";
  srcPort = 0;
  dstPort = 0;
  cgroupId = 0n;
  tcpFlags = 0;
  tcpFlagsNow = 0;
  icmpType = 0;
  icmpCode = 0;
  packets = 0;
  bytes = 0;
  dropReasonName = "";
  srttUs = 0;
  private readonly ipv4 = new Map<number, string>();
  private readonly cgroups = new Map<number, bigint>();
  private buf: Buffer = Buffer.alloc(0);
  private dv: DataView = viewOf(this.buf);

  /** Reads records from `buf` from now on. */
  over(buf: Buffer): this {
    if (buf !== this.buf) {
      this.buf = buf;
      this.dv = viewOf(buf);
    }
    return this;
  }

  /** Loads the record at byte `o`; throws on a kind or version this decoder does not know. */
  at(o: number): this {
    const buf = this.buf;
    const dv = this.dv;
    const kind = KINDS[buf[o]];
    if (!kind) throw new Error(`kernel record at byte ${o}: unknown kind ${buf[o]}`);
    if (buf[o + 1] !== FL_RECORD_VERSION) {
      throw new Error(`kernel record at byte ${o}: version ${buf[o + 1]}, this decoder reads version ${FL_RECORD_VERSION}; rebuild with \`make bpf\``);
    }
    const k = o + 24;
    const family = buf[k + 37];
    this.kind = kind;
    this.family = family;
    this.srcAddr = family === 4 ? this.ipv4At(k + 12) : formatAddress(buf, k, family);
    this.dstAddr = family === 4 ? this.ipv4At(k + 28) : formatAddress(buf, k + 16, family);
    this.srcPort = dv.getUint16(k + 32, true);
    this.dstPort = dv.getUint16(k + 34, true);
    this.protocol = buf[k + 36];
    this.direction = DIRECTIONS[buf[k + 38]] ?? "unknown";
    this.cgroupId = this.cgroupAt(k + 40);
    this.tcpFlags = buf[o + 3];
    this.tcpFlagsNow = buf[o + 4];
    this.icmpType = buf[o + 5];
    this.icmpCode = buf[o + 6];
    this.packets = u64(dv, o + 72);
    this.bytes = u64(dv, o + 80);
    this.dropReasonName = kind === "drop" ? dropReasonName(dv.getUint32(o + 8, true)) : "";
    this.srttUs = dv.getUint32(o + 136, true);
    return this;
  }

  private ipv4At(o: number): string {
    // Signed, so every address is a small integer to V8 (an unsigned one above 2^31 would be a boxed double).
    const n = this.dv.getInt32(o, false);
    let s = this.ipv4.get(n);
    if (s === undefined) {
      if (this.ipv4.size >= 65536) this.ipv4.clear();
      s = formatIpv4(this.buf, o);
      this.ipv4.set(n, s);
    }
    return s;
  }

  private cgroupAt(o: number): bigint {
    const lo = this.dv.getUint32(o, true);
    const hi = this.dv.getUint32(o + 4, true);
    if (hi >= 0x200000) return this.dv.getBigUint64(o, true); // beyond 2^53: not cached
    const n = hi * TWO_32 + lo;
    let id = this.cgroups.get(n);
    if (id === undefined) {
      if (this.cgroups.size >= 65536) this.cgroups.clear();
      id = BigInt(n);
      this.cgroups.set(n, id);
    }
    return id;
  }
}
