// Events per second over a sliding window of whole seconds.
export class RateWindow {
  private readonly buckets: number[];
  private readonly stamps: number[];

  constructor(
    private readonly seconds: number,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new Array(seconds).fill(0);
    this.stamps = new Array(seconds).fill(-1);
  }

  add(count: number): void {
    const sec = Math.floor(this.now() / 1000);
    const i = sec % this.seconds;
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec;
      this.buckets[i] = 0;
    }
    this.buckets[i] += count;
  }

  /** Average over the last `seconds` complete seconds. */
  perSecond(): number {
    const current = Math.floor(this.now() / 1000);
    let total = 0;
    for (let i = 0; i < this.seconds; i++) {
      const age = current - this.stamps[i];
      if (age >= 1 && age <= this.seconds) total += this.buckets[i];
    }
    return total / this.seconds;
  }
}
