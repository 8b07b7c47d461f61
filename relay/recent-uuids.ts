// Flow uuids seen recently, so a stream resumed with `since` = last seen time
// (or the history/live seam) drops the flows it already delivered. Bounded by
// age (the resume window) and by count.
export class RecentUuids {
  private readonly seen = new Map<string, number>();
  private newestUs = 0;

  constructor(private readonly windowUs: number, private readonly maxEntries: number) {}

  /** Records `uuid`; returns false when it was already recorded (a duplicate). */
  add(uuid: string, timeUs: number): boolean {
    if (!uuid) return true;
    if (this.seen.has(uuid)) return false;
    this.seen.set(uuid, timeUs);
    if (timeUs > this.newestUs) this.newestUs = timeUs;
    if (this.seen.size > this.maxEntries || (this.seen.size & 1023) === 0) this.prune();
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Drops entries older than the window, oldest inserted first, and any above the cap. */
  private prune(): void {
    const cutoff = this.newestUs - this.windowUs;
    for (const [uuid, t] of this.seen) {
      if (t >= cutoff && this.seen.size <= this.maxEntries) break;
      this.seen.delete(uuid);
    }
  }
}
