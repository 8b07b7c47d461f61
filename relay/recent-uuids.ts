// Uuids of the flows a GetFlows call (or the history ingest) has delivered, so
// a stream that starts from an earlier time than what was already delivered (a
// resumed stream, the history/backlog/follow seams) drops what it repeats.
// Recording runs for every relayed flow, so it only copies the uuid's bytes
// into a fixed ring (no string, no hashing); the set a restarting stream is
// checked against is built once per (re)start, from the entries at or after
// its `since`. Bounded by count: the ring keeps the newest `capacity` uuids.
const SLOT_BYTES = 40;
const INITIAL_SLOTS = 4096;

export class RecentUuids {
  private slots = 0;
  private times = new Float64Array(0);
  private lengths = new Uint8Array(0);
  private bytes = Buffer.alloc(0);
  private nextSlot = 0;
  private count = 0;
  /** The newest flow time recorded. */
  newestUs = 0;

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.count;
  }

  /** Records the uuid in `buf[start, end)` of a flow delivered with time `timeUs`. */
  record(timeUs: number, buf: Buffer, start: number, end: number): void {
    if (timeUs > this.newestUs) this.newestUs = timeUs;
    const len = end - start;
    // Not recorded (empty or longer than any uuid format): such a flow may at worst be repeated at a seam, never lost.
    if (len === 0 || len > SLOT_BYTES) return;
    if (this.count === this.slots && this.slots < this.capacity) this.grow();
    const i = this.nextSlot;
    buf.copy(this.bytes, i * SLOT_BYTES, start, end);
    this.lengths[i] = len;
    this.times[i] = timeUs;
    this.nextSlot = i + 1 === this.slots ? 0 : i + 1;
    if (this.count < this.slots) this.count++;
  }

  recordUuid(timeUs: number, uuid: string): void {
    const b = Buffer.from(uuid);
    this.record(timeUs, b, 0, b.length);
  }

  /** What a stream starting from `sinceUs` may repeat: the uuids recorded at or after it, up to the newest time now. */
  guard(sinceUs: number): SeamGuard {
    const uuids = new Set<string>();
    for (let k = 0; k < this.count; k++) {
      if (this.times[k] >= sinceUs) uuids.add(this.bytes.toString("utf8", k * SLOT_BYTES, k * SLOT_BYTES + this.lengths[k]));
    }
    return new SeamGuard(uuids.size ? this.newestUs : -1, uuids);
  }

  // Grows by doubling while the ring has not wrapped yet, so a short call never allocates the whole capacity.
  private grow(): void {
    const slots = Math.min(this.capacity, Math.max(INITIAL_SLOTS, this.slots * 2));
    const times = new Float64Array(slots);
    const lengths = new Uint8Array(slots);
    const bytes = Buffer.alloc(slots * SLOT_BYTES);
    times.set(this.times);
    lengths.set(this.lengths);
    this.bytes.copy(bytes);
    this.times = times;
    this.lengths = lengths;
    this.bytes = bytes;
    this.nextSlot = this.count;
    this.slots = slots;
  }
}

/** Checks one stream's flows against what was delivered before it started; flows newer than that pass without a lookup. */
export class SeamGuard {
  constructor(private readonly untilUs: number, private readonly uuids: Set<string>) {}

  /** False when the flow (uuid in `buf[start, end)`) was delivered before. */
  admit(timeUs: number, buf: Buffer, start: number, end: number): boolean {
    if (timeUs > this.untilUs || start === end) return true;
    return !this.uuids.has(buf.toString("utf8", start, end));
  }
}

export const NO_GUARD = new SeamGuard(-1, new Set());
