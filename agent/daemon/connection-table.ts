// Remembers which side opened each connection, so every record about it can be
// labelled request or reply. Keyed by protocol and the unordered endpoint pair;
// bounded, evicting the oldest connection first (a live connection is only
// forgotten after `capacity` newer ones).
import { FlowKeyTable } from "./flow-key-table";

/** A record's endpoint pair in canonical order, computed once per record. */
export interface PairKey {
  /** The endpoint (AddressIds.endpoint) that sorts first, the other one, and the protocol. */
  first: number;
  second: number;
  protocol: number;
  /** True when the record's source is `first`. */
  srcFirst: boolean;
}

/** Sets `out` to the pair of a record (reusing one object keeps the per-record path free of allocations). */
export function setPairKey(out: PairKey, protocol: number, srcEndpoint: number, dstEndpoint: number): PairKey {
  out.srcFirst = srcEndpoint <= dstEndpoint;
  out.first = out.srcFirst ? srcEndpoint : dstEndpoint;
  out.second = out.srcFirst ? dstEndpoint : srcEndpoint;
  out.protocol = protocol;
  return out;
}

const UNKNOWN = 0;
const FIRST_OPENED = 1;
const SECOND_OPENED = 2;

export class ConnectionTable {
  private readonly table: FlowKeyTable;

  constructor(capacity: number) {
    this.table = new FlowKeyTable(capacity, 1);
  }

  get size(): number {
    return this.table.size;
  }

  /** Records which end opened the connection (overrides an earlier guess). */
  setInitiator(pair: PairKey, srcIsInitiator: boolean): void {
    const slot = this.table.insert(pair.first, pair.second, pair.protocol);
    this.table.values[slot] = srcIsInitiator === pair.srcFirst ? FIRST_OPENED : SECOND_OPENED;
  }

  /** True when the source answered, false when it opened the connection, undefined when unknown. */
  isReply(pair: PairKey): boolean | undefined {
    const slot = this.table.find(pair.first, pair.second, pair.protocol);
    const opener = slot < 0 ? UNKNOWN : this.table.values[slot];
    return opener === UNKNOWN ? undefined : (opener === FIRST_OPENED) !== pair.srcFirst;
  }

  /** Looks the pair up, and when it is new records the source as the initiator (first packet seen opens it). */
  isReplyOrOpen(pair: PairKey): boolean {
    const slot = this.table.insert(pair.first, pair.second, pair.protocol);
    const opener = this.table.values[slot];
    if (opener !== UNKNOWN) return (opener === FIRST_OPENED) !== pair.srcFirst;
    this.table.values[slot] = pair.srcFirst ? FIRST_OPENED : SECOND_OPENED;
    return false;
  }
}
