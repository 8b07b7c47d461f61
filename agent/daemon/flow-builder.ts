// Resolves each kernel record on arrival into the ring's columns: pods and services from enrichment, reply
// status and ICMP type from what came before. Direction and reply follow Hubble: `traffic_direction` is the
// direction of the connection relative to the local pod (a server's replies are INGRESS traffic), and
// `is_reply` says whether the flow's source is the side that answered.
import type { ArrivalFields, KernelRecord } from "../kernel/record";
import type { Enrichment } from "../enrichment/types";
import { BoundedMap } from "./bounded-map";
import { ConnectionTable, setPairKey, type PairKey } from "./connection-table";
import { FlowColumns, FlowIds, SOCKET_KINDS, type FlowEntry } from "./flow-entry";
import { AddressIds } from "./flow-key-table";

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_SCTP = 132;

const TCP_SYN = 0x02;
const TCP_ACK = 0x10;

const ICMP_ECHO_REQUEST = new Set([8, 128]);
const ICMP_ECHO_REPLY = new Set([0, 129]);
const NO_ICMP = -1;

const PACKET_KINDS = new Set(["flow_start", "tcp_flags", "flush"]);

export interface FlowBuilderOptions {
  nodeName: string;
  enrichment: Enrichment;
  /**
   * Connections remembered for reply detection and per-flow ICMP types: as many as the kernel's flow table
   * holds flows (a connection is at least one of them). @default 65536
   */
  connectionCapacity?: number;
}

export class FlowBuilder {
  private readonly connections: ConnectionTable;
  private readonly addresses = new AddressIds();
  /** ICMP type * 256 + code by flow. */
  private readonly icmpTypes: BoundedMap<string, number>;
  readonly ids: FlowIds;
  private seq = 0;
  private readonly pair: PairKey = { first: 0, second: 0, protocol: 0, srcFirst: true };

  constructor(private readonly options: FlowBuilderOptions) {
    const capacity = options.connectionCapacity ?? 65536;
    this.connections = new ConnectionTable(capacity);
    this.icmpTypes = new BoundedMap(capacity);
    this.ids = new FlowIds(options.nodeName);
  }

  /**
   * Resolves a record in arrival order (reply tracking depends on it) into `slot` of `columns`, which
   * already holds the record itself.
   */
  resolve(r: ArrivalFields, columns: FlowColumns, slot: number): void {
    const icmp = this.icmpOf(r);
    const isReply = this.replyStatus(r, icmp === NO_ICMP ? undefined : icmp >> 8);
    // The cgroup names the local pod reliably (host-network pods share IPs); the IP names the peer.
    const { enrichment } = this.options;
    const local = r.cgroupId !== 0n ? enrichment.podByCgroup(r.cgroupId) : undefined;
    const localIsSource = SOCKET_KINDS.has(r.kind) || r.direction === "egress";
    const srcPod = (localIsSource ? local : undefined) ?? enrichment.podByIp(r.srcAddr);
    const dstPod = (!localIsSource ? local : undefined) ?? enrichment.podByIp(r.dstAddr);
    columns.resolve(slot, ++this.seq, srcPod, dstPod, enrichment.serviceByIp(r.srcAddr), enrichment.serviceByIp(r.dstAddr), isReply, icmp);
  }

  /** Resolves a decoded record into an entry of its own (outside any ring). */
  build(r: KernelRecord): FlowEntry {
    const columns = new FlowColumns(1, this.ids);
    columns.storeDecoded(0, r);
    this.resolve(r, columns, 0);
    return columns.entry(0);
  }

  /** ICMP type * 256 + code: carried by the flow's first record, remembered for its later ones; -1 when none. */
  private icmpOf(r: ArrivalFields): number {
    if (r.protocol !== IPPROTO_ICMP && r.protocol !== IPPROTO_ICMPV6) return NO_ICMP;
    const key = `${r.protocol}|${r.srcAddr}|${r.dstAddr}|${r.srcPort}|${r.dstPort}|${r.cgroupId}|${r.direction}`;
    if (r.kind === "flow_start" || r.kind === "drop") {
      const value = r.icmpType * 256 + r.icmpCode;
      this.icmpTypes.set(key, value);
      return value;
    }
    return this.icmpTypes.get(key) ?? NO_ICMP;
  }

  private replyStatus(r: ArrivalFields, icmpType: number | undefined): boolean | undefined {
    const proto = r.protocol;
    const t = this.connections;
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      // Echo id sits in different places for requests and replies; the address pair is enough.
      const pair = setPairKey(this.pair, proto, this.addresses.endpoint(r.srcAddr, r.family, 0), this.addresses.endpoint(r.dstAddr, r.family, 0));
      if (icmpType !== undefined && ICMP_ECHO_REQUEST.has(icmpType)) t.setInitiator(pair, true);
      else if (icmpType !== undefined && ICMP_ECHO_REPLY.has(icmpType)) t.setInitiator(pair, false);
      return r.kind === "drop" ? t.isReply(pair) : t.isReplyOrOpen(pair);
    }
    const pair = setPairKey(this.pair, proto, this.addresses.endpoint(r.srcAddr, r.family, r.srcPort), this.addresses.endpoint(r.dstAddr, r.family, r.dstPort));
    if (SOCKET_KINDS.has(r.kind)) {
      // Socket records: the source is the local socket; a server socket (ingress) is the answering side.
      t.setInitiator(pair, r.direction !== "ingress");
      return r.direction === "ingress";
    }
    if (proto === IPPROTO_TCP && r.kind !== "drop" && r.tcpFlagsNow & TCP_SYN) t.setInitiator(pair, !(r.tcpFlagsNow & TCP_ACK));
    if (r.kind === "drop") return t.isReply(pair);
    if (PACKET_KINDS.has(r.kind) && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP)) {
      // A TCP flow first seen mid-stream (agent started late) without SYN: guess the first sender.
      return t.isReplyOrOpen(pair);
    }
    return t.isReply(pair);
  }
}
