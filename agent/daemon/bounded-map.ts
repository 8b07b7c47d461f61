// A Map that holds at most `capacity` keys and forgets the oldest inserted key first. The insertion order
// lives in a ring of keys: evicting through Map iteration (`keys().next()`) walks every deleted entry V8
// still keeps in the table, which makes a full Map cost thousands of steps per insert.
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  private readonly order: (K | undefined)[];
  private next = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`BoundedMap capacity must be a positive integer, got ${capacity}`);
    this.order = new Array(capacity);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Sets the value; a new key takes the place of the oldest one once the map is full. */
  set(key: K, value: V): void {
    const before = this.map.size;
    this.map.set(key, value);
    if (this.map.size === before) return;
    const oldest = this.order[this.next];
    if (oldest !== undefined) this.map.delete(oldest);
    this.order[this.next] = key;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
  }
}
