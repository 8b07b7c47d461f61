// The bounded sort window that orders followed flows from many nodes: each
// item waits up to `windowMs` after it arrived so slightly later arrivals with
// earlier times can overtake it, and the heap never holds more than
// `maxItems` (the oldest is emitted early instead), so memory and latency
// stay bounded whatever the nodes do.
export interface WindowItem {
  timeUs: number;
  arrivalMs: number;
  seq: number;
  data: Buffer;
}

export class SortWindow {
  private heap: WindowItem[] = [];
  private seq = 0;

  constructor(private readonly windowMs: number, private readonly maxItems: number, private readonly emit: (item: WindowItem) => void) {}

  get size(): number {
    return this.heap.length;
  }

  push(timeUs: number, data: Buffer, nowMs: number): void {
    this.heap.push({ timeUs, arrivalMs: nowMs, seq: this.seq++, data });
    this.up(this.heap.length - 1);
    while (this.heap.length > this.maxItems) this.emit(this.pop());
  }

  /** Emits every item whose wait is over; all of them when `everything`. */
  drain(nowMs: number, everything = false): void {
    while (this.heap.length && (everything || this.heap[0].arrivalMs + this.windowMs <= nowMs)) this.emit(this.pop());
  }

  private less(a: WindowItem, b: WindowItem): boolean {
    return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.seq < b.seq);
  }

  private pop(): WindowItem {
    const top = this.heap[0];
    const last = this.heap.pop()!;
    if (this.heap.length) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
