// Remembers which side opened each connection, so every record about it can be
// labelled request or reply. Keyed by protocol and the unordered address pair;
// bounded, evicting the oldest entry (re-registered on every SYN, so a live
// connection is only forgotten after `capacity` newer ones).

export interface Endpoint4 {
  ip: string;
  port: number;
}

function canonicalKey(protocol: number, a: Endpoint4, b: Endpoint4): string {
  const x = `${a.ip}|${a.port}`;
  const y = `${b.ip}|${b.port}`;
  return x < y ? `${protocol}|${x}|${y}` : `${protocol}|${y}|${x}`;
}

export class ConnectionTable {
  private readonly initiators = new Map<string, string>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.initiators.size;
  }

  /** Records `initiator` as the side that opened the connection between `a` and `b` (overrides a guess). */
  setInitiator(protocol: number, a: Endpoint4, b: Endpoint4, initiator: Endpoint4): void {
    const key = canonicalKey(protocol, a, b);
    this.initiators.delete(key);
    this.initiators.set(key, `${initiator.ip}|${initiator.port}`);
    if (this.initiators.size > this.capacity) this.initiators.delete(this.initiators.keys().next().value!);
  }

  /** True when `src` is the responder, false when it opened the connection, undefined when unknown. */
  isReply(protocol: number, src: Endpoint4, dst: Endpoint4): boolean | undefined {
    const key = canonicalKey(protocol, src, dst);
    const initiator = this.initiators.get(key);
    if (initiator === undefined) return undefined;
    return initiator !== `${src.ip}|${src.port}`;
  }

  /** Looks the pair up, and when it is new records `src` as the initiator (first packet seen opens it). */
  isReplyOrOpen(protocol: number, src: Endpoint4, dst: Endpoint4): boolean {
    const known = this.isReply(protocol, src, dst);
    if (known !== undefined) return known;
    this.setInitiator(protocol, src, dst, src);
    return false;
  }
}
