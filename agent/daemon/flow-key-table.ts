// Per-connection state for every record, without a key string to build and hash per record and with
// nothing for the garbage collector to trace: keys are numbers (an endpoint is address id * 65536 + port)
// in typed arrays, open addressing with linear probing and backward-shift deletion. Bounded: once
// `capacity` keys are held, a new key evicts the oldest inserted one (a ring of keys keeps the order).

const EMPTY = -1;
const TWO_32 = 4294967296;

/** Both 32-bit halves of an integer below 2^53, folded into one. */
function fold(x: number): number {
  return (x >>> 0) ^ Math.imul((x / TWO_32) | 0, 0x9e3779b1);
}

/** MurmurHash3's finalizer: every input bit reaches the low bits the table indexes by. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Numbers for addresses: IPv4 is its 32-bit value; other addresses get ids above 2^32, never reused. */
export class AddressIds {
  private readonly others: Map<string, number> = new Map();
  private nextId = TWO_32;

  constructor(private readonly otherCapacity = 65536) {}

  id(address: string, family: number): number {
    if (family === 4) return ipv4Number(address);
    let id = this.others.get(address);
    if (id === undefined) {
      // Forgetting all is fine: a known address seen again gets a fresh id, and stale keys age out.
      if (this.others.size >= this.otherCapacity) this.others.clear();
      id = this.nextId++;
      this.others.set(address, id);
    }
    return id;
  }

  /** address id * 65536 + port: exact below 2^53. */
  endpoint(address: string, family: number, port: number): number {
    return this.id(address, family) * 65536 + port;
  }
}

/** "198.18.2.20" as 0xc6120214, read without allocating. */
export function ipv4Number(s: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else {
      part = part * 10 + c - 48;
    }
  }
  return n * 256 + part;
}

export class FlowKeyTable {
  /** `width` numbers of state per slot: values[slot * width + i]. */
  readonly values: Float64Array;
  private readonly keyA: Float64Array;
  private readonly keyB: Float64Array;
  private readonly keyC: Int32Array;
  /** Each slot's home (the hash of its key), so deletion's backward shift does not hash again. */
  private readonly homes: Int32Array;
  private readonly mask: number;
  private readonly ringA: Float64Array;
  private readonly ringB: Float64Array;
  private readonly ringC: Int32Array;
  private next = 0;
  private count = 0;

  constructor(
    readonly capacity: number,
    private readonly width: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`FlowKeyTable capacity must be a positive integer, got ${capacity}`);
    const slots = 2 ** Math.ceil(Math.log2(capacity * 2));
    this.mask = slots - 1;
    this.keyA = new Float64Array(slots);
    this.keyB = new Float64Array(slots);
    this.keyC = new Int32Array(slots).fill(EMPTY);
    this.homes = new Int32Array(slots);
    this.values = new Float64Array(slots * width);
    this.ringA = new Float64Array(capacity);
    this.ringB = new Float64Array(capacity);
    this.ringC = new Int32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  private home(a: number, b: number, c: number): number {
    return fmix(fold(a) ^ Math.imul(fmix(fold(b)), 0x27d4eb2f) ^ c) & this.mask;
  }

  /** The key's slot, or -1. `c` is a small non-negative integer (protocol, direction). */
  find(a: number, b: number, c: number): number {
    for (let i = this.home(a, b, c); ; i = (i + 1) & this.mask) {
      const kc = this.keyC[i];
      if (kc === EMPTY) return -1;
      if (kc === c && this.keyA[i] === a && this.keyB[i] === b) return i;
    }
  }

  /** The key's slot, adding the key with zeroed values when it is new. Slots move on insert: do not keep them. */
  insert(a: number, b: number, c: number): number {
    const home = this.home(a, b, c);
    let i = home;
    for (; this.keyC[i] !== EMPTY; i = (i + 1) & this.mask) {
      if (this.keyC[i] === c && this.keyA[i] === a && this.keyB[i] === b) return i;
    }
    if (this.count === this.capacity) {
      this.remove(this.ringA[this.next], this.ringB[this.next], this.ringC[this.next]);
      // The eviction may have shifted entries of this probe run: find the first free slot again.
      for (i = home; this.keyC[i] !== EMPTY; i = (i + 1) & this.mask);
    }
    this.keyA[i] = a;
    this.keyB[i] = b;
    this.keyC[i] = c;
    this.homes[i] = home;
    this.values.fill(0, i * this.width, (i + 1) * this.width);
    this.ringA[this.next] = a;
    this.ringB[this.next] = b;
    this.ringC[this.next] = c;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    this.count++;
    return i;
  }

  private remove(a: number, b: number, c: number): void {
    let hole = this.find(a, b, c);
    if (hole < 0) return;
    this.count--;
    // Backward shift: pull later entries of the probe run into the hole unless they sit at or after their home.
    for (let j = (hole + 1) & this.mask; this.keyC[j] !== EMPTY; j = (j + 1) & this.mask) {
      const h = this.homes[j];
      const stays = hole <= j ? hole < h && h <= j : hole < h || h <= j;
      if (stays) continue;
      this.keyA[hole] = this.keyA[j];
      this.keyB[hole] = this.keyB[j];
      this.keyC[hole] = this.keyC[j];
      this.homes[hole] = h;
      this.values.copyWithin(hole * this.width, j * this.width, (j + 1) * this.width);
      hole = j;
    }
    this.keyC[hole] = EMPTY;
  }
}
