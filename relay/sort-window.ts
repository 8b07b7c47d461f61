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

  private pop(): WindowItem {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  // Sift with a moving hole rather than swaps: this runs twice per followed flow.
  private up(i: number): void {
    const h = this.heap;
    const item = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p];
      if (!before(item, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = item;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const item = h[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && before(h[c + 1], h[c])) c++;
      if (!before(h[c], item)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = item;
  }
}

function before(a: WindowItem, b: WindowItem): boolean {
  return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.seq < b.seq);
}
