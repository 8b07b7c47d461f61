// The ring of recent events a node keeps for GetFlows: flows and lost-event
// notices in arrival order, oldest overwritten first. Followers subscribe to
// what is pushed after they join.
import type { Flow, LostEvent } from "../../proto/types";

/** Anything that yields a flow when read; the agent stores compact entries that build it on demand. */
export interface FlowSource {
  readonly flow: Flow;
}

export type RingEvent = { entry: FlowSource; lost?: undefined; timeMs: number } | { entry?: undefined; lost: LostEvent; timeMs: number };

export class FlowRing {
  private readonly slots: (RingEvent | undefined)[];
  private next = 0;
  private count = 0;
  private seen = 0;
  private readonly listeners = new Set<(e: RingEvent) => void>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`flow ring capacity must be a positive integer, got ${capacity}; set --ring-capacity to e.g. 65536`);
    }
    this.slots = new Array(capacity);
  }

  /** Flows currently held. */
  get size(): number {
    return this.count;
  }

  /** Flows pushed since start, including those already overwritten. */
  get seenFlows(): number {
    return this.seen;
  }

  push(event: RingEvent): void {
    this.slots[this.next] = event;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    if (event.entry) this.seen++;
    for (const l of this.listeners) l(event);
  }

  /** Oldest to newest. */
  *events(): IterableIterator<RingEvent> {
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) yield this.slots[(start + i) % this.capacity]!;
  }

  /** Newest to oldest. */
  *eventsNewestFirst(): IterableIterator<RingEvent> {
    for (let i = 1; i <= this.count; i++) yield this.slots[(this.next - i + this.capacity) % this.capacity]!;
  }

  subscribe(listener: (e: RingEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
