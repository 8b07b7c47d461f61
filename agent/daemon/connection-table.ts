// Remembers which side opened each connection, so every record about it can be
// labelled request or reply. Keyed by protocol and the unordered address pair;
// bounded, evicting the oldest entry (re-registered on every SYN, so a live
// connection is only forgotten after `capacity` newer ones).
import { BoundedMap } from "./bounded-map";

/** A record's address pair in canonical order, computed once per record. */
export interface PairKey {
  key: string;
  /** True when the record's source sorts first in `key`. */
  srcFirst: boolean;
}

export function pairKey(protocol: number, srcIp: string, srcPort: number, dstIp: string, dstPort: number): PairKey {
  const a = `${srcIp}|${srcPort}`;
  const b = `${dstIp}|${dstPort}`;
  return a < b ? { key: `${protocol}|${a}|${b}`, srcFirst: true } : { key: `${protocol}|${b}|${a}`, srcFirst: false };
}

export class ConnectionTable {
  /** Value: whether the endpoint that sorts first opened the connection. */
  private readonly firstIsInitiator: BoundedMap<string, boolean>;

  constructor(capacity: number) {
    this.firstIsInitiator = new BoundedMap(capacity);
  }

  get size(): number {
    return this.firstIsInitiator.size;
  }

  /** Records which end opened the connection (overrides an earlier guess). */
  setInitiator(pair: PairKey, srcIsInitiator: boolean): void {
    this.firstIsInitiator.set(pair.key, srcIsInitiator === pair.srcFirst);
  }

  /** True when the source answered, false when it opened the connection, undefined when unknown. */
  isReply(pair: PairKey): boolean | undefined {
    const first = this.firstIsInitiator.get(pair.key);
    return first === undefined ? undefined : first !== pair.srcFirst;
  }

  /** Looks the pair up, and when it is new records the source as the initiator (first packet seen opens it). */
  isReplyOrOpen(pair: PairKey): boolean {
    const known = this.isReply(pair);
    if (known !== undefined) return known;
    this.setInitiator(pair, true);
    return false;
  }
}
