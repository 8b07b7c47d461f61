// The bounded sort window that orders followed flows from many nodes: each
// item waits up to `windowMs` after it arrived so slightly later arrivals with
// earlier times can overtake it, and the window never holds more than
// `maxItems` (the earliest is emitted early instead), so memory and latency
// stay bounded whatever the nodes do.
//
// A node's stream is nearly always in time order, so consecutive flows from
// one source that arrive in the same millisecond (one network read) join one
// time-ordered run, and the heap orders runs by their first pending flow.
// That keeps the heap small (runs, not flows) and makes a push O(1) for the
// common case; a flow earlier than its run's last one starts a new run, so
// the order is exactly that of a heap of single flows.
interface Run {
  times: number[];
  frames: Buffer[];
  head: number;
  arrivalMs: number;
  seq: number;
}

export class SortWindow {
  private heap: Run[] = [];
  private readonly open = new Map<unknown, Run>();
  private seq = 0;
  private count = 0;

  constructor(private readonly windowMs: number, private readonly maxItems: number, private readonly emit: (timeUs: number, framed: Buffer) => void) {}

  get size(): number {
    return this.count;
  }

  push(source: unknown, timeUs: number, framed: Buffer, nowMs: number): void {
    const run = this.open.get(source);
    if (run && run.arrivalMs === nowMs && run.head < run.times.length && timeUs >= run.times[run.times.length - 1]) {
      run.times.push(timeUs);
      run.frames.push(framed);
    } else {
      const fresh: Run = { times: [timeUs], frames: [framed], head: 0, arrivalMs: nowMs, seq: this.seq++ };
      this.open.set(source, fresh);
      this.heap.push(fresh);
      this.up(this.heap.length - 1);
    }
    this.count++;
    while (this.count > this.maxItems) this.emitFirst();
  }

  /** Emits every item whose wait is over; all of them when `everything`. */
  drain(nowMs: number, everything = false): void {
    while (this.heap.length && (everything || this.heap[0].arrivalMs + this.windowMs <= nowMs)) this.emitFirst();
  }

  private emitFirst(): void {
    const run = this.heap[0];
    const i = run.head++;
    const framed = run.frames[i];
    run.frames[i] = EMPTY; // released as soon as it is written
    this.count--;
    if (run.head === run.times.length) {
      // An exhausted run is closed: later flows of its source start a new one.
      const last = this.heap.pop()!;
      if (this.heap.length) {
        this.heap[0] = last;
        this.down(0);
      }
    } else this.down(0);
    this.emit(run.times[i], framed);
  }

  // Sift with a moving hole rather than swaps.
  private up(i: number): void {
    const h = this.heap;
    const run = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p];
      if (!before(run, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = run;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const run = h[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && before(h[c + 1], h[c])) c++;
      if (!before(h[c], run)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = run;
  }
}

const EMPTY = Buffer.alloc(0);

function before(a: Run, b: Run): boolean {
  const ta = a.times[a.head];
  const tb = b.times[b.head];
  return ta < tb || (ta === tb && a.seq < b.seq);
}
