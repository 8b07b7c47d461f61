// The ring of recent events a node keeps for GetFlows: flows and lost-event
// notices in arrival order, oldest overwritten first. Followers subscribe to
// what is pushed after they join.
import type { Flow, LostEvent } from "../../proto/types";

/** Anything that yields a flow when read; the agent stores compact entries that build it on demand. */
export interface FlowSource {
  readonly flow: Flow;
}

export type RingEvent = { entry: FlowSource; lost?: undefined; timeMs: number } | { entry?: undefined; lost: LostEvent; timeMs: number };

/** Where the ring's stored entries live: slot i of the ring is slot i of the columns. */
export interface EntryColumns {
  /** A view of the entry in `slot`. */
  entry(slot: number): FlowSource;
}

export class FlowRing {
  private readonly times: Float64Array;
  /** Events pushed as objects; undefined where the slot's entry is in the columns. */
  private readonly objects: (RingEvent | undefined)[] = [];
  private next = 0;
  private count = 0;
  private seen = 0;
  private readonly listeners = new Set<(e: RingEvent) => void>();

  constructor(
    readonly capacity: number,
    private readonly columns?: EntryColumns,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`flow ring capacity must be a positive integer, got ${capacity}; set --ring-capacity to e.g. 65536`);
    }
    this.times = new Float64Array(capacity);
    // Pushed one by one so V8 keeps the array in its fast representation at any capacity.
    for (let i = 0; i < capacity; i++) this.objects.push(undefined);
  }

  /** Flows currently held. */
  get size(): number {
    return this.count;
  }

  /** Flows pushed since start, including those already overwritten. */
  get seenFlows(): number {
    return this.seen;
  }

  /** The slot the next push fills: write the entry there in the columns, then call pushStored(). */
  get nextSlot(): number {
    return this.next;
  }

  push(event: RingEvent): void {
    this.objects[this.next] = event;
    this.advance(event.timeMs, event.entry !== undefined);
    for (const l of this.listeners) l(event);
  }

  /** Records the entry just written into the columns at nextSlot. */
  pushStored(timeMs: number): void {
    const slot = this.next;
    this.objects[slot] = undefined;
    this.advance(timeMs, true);
    if (this.listeners.size > 0) {
      const event: RingEvent = { entry: this.columns!.entry(slot), timeMs };
      for (const l of this.listeners) l(event);
    }
  }

  private advance(timeMs: number, isFlow: boolean): void {
    this.times[this.next] = timeMs;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.count < this.capacity) this.count++;
    if (isFlow) this.seen++;
  }

  private eventAt(slot: number): RingEvent {
    return this.objects[slot] ?? { entry: this.columns!.entry(slot), timeMs: this.times[slot] };
  }

  /** Oldest to newest. */
  *events(): IterableIterator<RingEvent> {
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) yield this.eventAt((start + i) % this.capacity);
  }

  /** Newest to oldest. */
  *eventsNewestFirst(): IterableIterator<RingEvent> {
    for (let i = 1; i <= this.count; i++) yield this.eventAt((this.next - i + this.capacity) % this.capacity);
  }

  subscribe(listener: (e: RingEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
