// Egress NAT translations seen by the kernel (nat records), by the connection's
// original tuple, so flows of that connection can carry the translated source
// (Hubble's IP.source_xlated). Bounded in size and age: the kernel reports every
// source NAT binding of the machine, and only those of flows this node observes
// are ever looked up again.
import type { ArrivalFields, KernelRecord } from "../kernel/record";

/** What a flow record's NAT lookup reads. */
type TupleFields = Pick<ArrivalFields, "protocol" | "srcAddr" | "dstAddr" | "srcPort" | "dstPort" | "direction">;

export interface NatTableOptions {
  /** Translations kept at most. @default 65536 */
  capacity?: number;
  /** A translation not used for this long is forgotten. @default 600000 (10 minutes) */
  ttlMs?: number;
  /** Clock in ms. @default Date.now */
  now?: () => number;
}

interface Translation {
  address: string;
  expiresAt: number;
}

// ICMP packet records carry no ports (the kernel's nat records neither).
const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;

/** The connection's original tuple: the direction in which the source is the local pod. */
function tupleKey(r: TupleFields): string {
  const icmp = r.protocol === IPPROTO_ICMP || r.protocol === IPPROTO_ICMPV6;
  return icmp ? `${r.protocol}|${r.srcAddr}|0|${r.dstAddr}|0` : `${r.protocol}|${r.srcAddr}|${r.srcPort}|${r.dstAddr}|${r.dstPort}`;
}

/**
 * Two generations of half the capacity each: a full young generation becomes the old one and the previous
 * old one is dropped at once, and a hit in the old generation moves back to the young one. That keeps
 * recently used translations at a constant cost per operation, with no per-entry eviction scan.
 */
export class NatTable {
  private young = new Map<string, Translation>();
  private old = new Map<string, Translation>();
  // Destinations of each generation's translations: a cheap test that lets most egress records skip
  // building a tuple key (a string) on the per-event path. Only a filter: a hit still checks the key.
  private youngDestinations = new Set<string>();
  private oldDestinations = new Set<string>();
  private readonly generationSize: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: NatTableOptions = {}) {
    const capacity = options.capacity ?? 65536;
    if (!Number.isInteger(capacity) || capacity < 2) throw new Error(`NAT table capacity must be an integer of at least 2, got ${capacity}`);
    this.generationSize = Math.floor(capacity / 2);
    this.ttlMs = options.ttlMs ?? 600_000;
    if (!(this.ttlMs > 0)) throw new Error(`NAT table TTL must be a positive number of ms, got ${this.ttlMs}`);
    this.now = options.now ?? Date.now;
  }

  /** Translations held (an upper bound: expired ones go when next looked up or with their generation). */
  get size(): number {
    return this.young.size + this.old.size;
  }

  /** Stores the translation of a nat record; returns the connection's key for matches(). */
  learn(r: KernelRecord): string {
    const key = tupleKey(r);
    this.old.delete(key);
    this.put(key, r.dstAddr, { address: r.xlatedSrcAddr, expiresAt: this.now() + this.ttlMs });
    return key;
  }

  /**
   * The translated source of a flow record, or undefined. Only egress records can match: their source is
   * the local end, as in the original tuple; a reply has the tuple reversed.
   */
  sourceXlatedOf(r: TupleFields): string | undefined {
    if (r.direction !== "egress" || this.size === 0) return undefined;
    if (!this.youngDestinations.has(r.dstAddr) && !this.oldDestinations.has(r.dstAddr)) return undefined;
    const key = tupleKey(r);
    let t = this.young.get(key);
    if (!t) {
      t = this.old.get(key);
      if (!t) return undefined;
      this.old.delete(key);
      this.put(key, r.dstAddr, t);
    }
    const now = this.now();
    if (t.expiresAt <= now) {
      this.young.delete(key);
      return undefined;
    }
    // A long connection keeps its translation while it is reported (flushes, close).
    t.expiresAt = now + this.ttlMs;
    return t.address;
  }

  /** True when flow record `r` belongs to the connection `natKey` (from learn()). */
  static matches(natKey: string, r: TupleFields): boolean {
    return r.direction === "egress" && tupleKey(r) === natKey;
  }

  private put(key: string, destination: string, t: Translation): void {
    if (!this.young.has(key) && this.young.size >= this.generationSize) {
      this.old = this.young;
      this.young = new Map();
      this.oldDestinations = this.youngDestinations;
      this.youngDestinations = new Set();
    }
    this.young.set(key, t);
    this.youngDestinations.add(destination);
  }
}

/** A ring entry whose translated source can be filled in after it was stored. */
export interface TranslatableEntry {
  readonly record: KernelRecord;
  sourceXlated: string | undefined;
}

function isTranslatable(entry: object | undefined): entry is TranslatableEntry {
  return entry !== undefined && "record" in entry && "sourceXlated" in entry;
}

/**
 * Sets the translation on the newest ring events of its connection: a connection's first records (socket
 * open, SYN) are made just before the NAT binding on the path out of the node. The scan stops at `lookback`
 * events or at the first event that arrived before `notBeforeMs`, whichever comes first, because each
 * candidate is decoded again from the ring's bytes: a busy node must not re-read seconds of history per
 * new connection.
 */
export function patchRecent(
  events: Iterable<{ entry?: object; timeMs: number }>,
  natKey: string,
  address: string,
  lookback: number,
  notBeforeMs = -Infinity,
): number {
  let seen = 0;
  let patched = 0;
  for (const e of events) {
    if (++seen > lookback || e.timeMs < notBeforeMs) break;
    if (isTranslatable(e.entry) && e.entry.sourceXlated === undefined && NatTable.matches(natKey, e.entry.record)) {
      e.entry.sourceXlated = address;
      patched++;
    }
  }
  return patched;
}
