/**
 * KernelCapture: loads the Flowlens kernel programs, attaches them for one cgroup v2 subtree and streams
 * decoded records. Everything attached is an fd-based link owned by this process: close() (or the
 * process dying) detaches it all.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { netnsUnder, resolveCgroupRoot, type CgroupRoot } from "./cgroup-scope";
import { startEgressNat, type EgressNatSource, type NatHook } from "./egress-nat";
import { loadNative, type NativeBpfObject, type NativeModule } from "./native";
import {
  bootToWallClockOffsetNs,
  decodeRecords,
  FL_FLOW_KEY_SIZE,
  FL_FLOW_VALUE_SIZE,
  FL_RECORD_SIZE,
  writeFlushRecord,
  type Hook,
  type KernelRecord,
} from "./record";

/**
 * Records as the kernel wrote them: record i is at byte i * FL_RECORD_SIZE of `bytes`. The bytes are only
 * valid during the listener's call: the next batch overwrites them, so a listener copies what it keeps.
 */
export interface RecordBatch {
  readonly bytes: Buffer;
  readonly count: number;
  /** Added to the records' kernel boot-time stamps to get wall-clock ns. */
  readonly bootToWallNs: bigint;
}

export type BatchListener = (batch: RecordBatch) => void;
export type RecordsListener = (records: KernelRecord[]) => void;

/** Records per drained batch: bounds the work between event-loop turns when the kernel outpaces JavaScript. */
const BATCH_RECORDS = 4096;
/**
 * A large flush is handed on in chunks spread over time: each chunk's records are built into flows and sent to
 * every follower before the next is read, and ring-buffer records arriving meanwhile go between chunks, so they
 * wait for one chunk rather than for the whole flush.
 */
const FLUSH_CHUNK_RECORDS = 256;
/** Pause between chunks, shortened so that a flush always ends within half the flush interval. */
const FLUSH_CHUNK_GAP_MS = 10;

export const DEFAULT_OBJECT_PATH = path.resolve(__dirname, "../../bpf/.output/flowlens.bpf.o");

export interface KernelCaptureOptions {
  /** cgroup v2 directory whose subtree is observed (sockets and packets of other cgroups are ignored). */
  readonly cgroupRoot: string;
  /**
   * Ring buffer size: a power of two, at least one page. The default holds 250 ms of records at 200,000
   * events/s (160 bytes each with the kernel's header) while the agent drains it every few milliseconds;
   * the kernel maps its pages twice into the agent, so it costs twice its size in RSS. @default 8 MiB
   */
  readonly ringBufferBytes?: number;
  /** How often active flows are reported ("flush" records). @default 5000 */
  readonly flushIntervalMs?: number;
  /** Interfaces to watch with TC (tcx) programs too; only where no other dataplane owns TC. @default - none */
  readonly tcInterfaces?: string[];
  /** Compiled BPF object. @default bpf/.output/flowlens.bpf.o */
  readonly objectPath?: string;
  /** Capacity of each flow table (LRU). @default 65536 */
  readonly flowTableEntries?: number;
  /** Report source-translated connections (nat records). @default true */
  readonly egressNat?: boolean;
  /**
   * Network namespaces where source NAT happens (paths such as /proc/1/ns/net or /run/netns/node-a): the NAT
   * hook goes there. @default this process's own namespace (a node agent runs in the host's)
   */
  readonly egressNatNetns?: string[];
  /** Where NAT bindings are read: conntrack events, else netfilter where the kernel has it ("auto"), or one of them. @default "auto" */
  readonly egressNatHook?: "auto" | NatHook;
}

export interface LossStats {
  /** Records dropped because the ring buffer was full. */
  ringbufLost: number;
  /** Packets not aggregated because the flow table refused a new entry. */
  flowTableFull: number;
  /** Records submitted to the ring buffer. */
  events: number;
  /** Times conntrack's event queue overflowed (NAT bindings lost) when NAT is read from conntrack events. */
  natEventOverflows: number;
}

export interface ProgramStats {
  name: string;
  id: number;
  runCount: number;
  runTimeNs: number;
  /** runTimeNs / runCount; 0 before any run (needs sysctl kernel.bpf_stats_enabled=1). */
  nsPerRun: number;
}

const STAT_RINGBUF_LOST = 0;
const STAT_FLOW_TABLE_FULL = 1;
const STAT_EVENTS = 2;

/** The socket-level programs, attached wherever the agent runs. */
export const TRACING_PROGRAMS = ["fl_sock_state", "fl_tcp_retransmit", "fl_kfree_skb"];

/** Tells the socket-level programs which cgroup subtree is observed (fl_config). */
export function setObservedRoot(obj: NativeBpfObject, root: CgroupRoot): void {
  const config = Buffer.alloc(16);
  config.writeBigUInt64LE(root.id, 0);
  config.writeUInt32LE(root.level, 8);
  obj.mapUpdate("fl_config", u32Key(0), config);
}
const FLOW_MAPS: Array<{ map: string; hook: Hook }> = [
  { map: "fl_flows", hook: "cgroup_skb" },
  { map: "fl_tc_flows", hook: "tc" },
];
/**
 * Connected TCP sockets count their own flows (socket storage); an iterator writes them as fl_flows entries:
 * over the storage map where the kernel allows iterating map elements, else over each observed network
 * namespace's TCP sockets.
 */
const SOCKET_FLOWS = { program: "fl_sock_flows", map: "fl_socks" } as const;
const SOCKET_FLOWS_BY_NETNS = "fl_sock_flows_tcp";
/** Programs some kernels refuse while the rest loads: one socket iterator of the two is enough. */
export const OPTIONAL_PROGRAMS = [SOCKET_FLOWS.program, SOCKET_FLOWS_BY_NETNS];
const SOCKET_FLOW_SIZE = FL_FLOW_KEY_SIZE + FL_FLOW_VALUE_SIZE;
const KEY_PROTOCOL_OFFSET = 36;
const IPPROTO_TCP = 6;
const VALUE_PACKETS = 0;
const VALUE_BYTES = 8;
const VALUE_FIRST_SEEN = 16;
const VALUE_LAST_SEEN = 24;
const VALUE_TCP_FLAGS = 44;

/** One flow read for a flush: its key and counters where they were read, and the map to re-read them from. */
interface FlushRow {
  keys: Buffer;
  keyOffset: number;
  values: Buffer;
  valueOffset: number;
  hook: Hook;
  /** Re-read from this map before a later chunk is handed on; null: the counters read first are used. */
  map: string | null;
}

/**
 * Adds an fl_flows entry's counters (`values` at `offset`) into a socket row's (a copy): the same flow counted
 * partly in fl_flows and partly on its socket, which happens only when a packet reached the listener after
 * the socket took its flow over.
 */
function mergeCounters(into: FlushRow, values: Buffer, offset: number): void {
  const a = Buffer.from(into.values.subarray(into.valueOffset, into.valueOffset + FL_FLOW_VALUE_SIZE));
  const b = values.subarray(offset, offset + FL_FLOW_VALUE_SIZE);
  a.writeBigUInt64LE(a.readBigUInt64LE(VALUE_PACKETS) + b.readBigUInt64LE(VALUE_PACKETS), VALUE_PACKETS);
  a.writeBigUInt64LE(a.readBigUInt64LE(VALUE_BYTES) + b.readBigUInt64LE(VALUE_BYTES), VALUE_BYTES);
  const first = [a.readBigUInt64LE(VALUE_FIRST_SEEN), b.readBigUInt64LE(VALUE_FIRST_SEEN)];
  a.writeBigUInt64LE(first[0] < first[1] ? first[0] : first[1], VALUE_FIRST_SEEN);
  const last = [a.readBigUInt64LE(VALUE_LAST_SEEN), b.readBigUInt64LE(VALUE_LAST_SEEN)];
  a.writeBigUInt64LE(last[0] > last[1] ? last[0] : last[1], VALUE_LAST_SEEN);
  a[VALUE_TCP_FLAGS] |= b[VALUE_TCP_FLAGS];
  into.values = a;
  into.valueOffset = 0;
  into.map = null;
}

/** Flow-table entries idle for this many flush intervals (and at least IDLE_MIN_MS) are removed. */
const IDLE_FLUSH_INTERVALS = 3;
const IDLE_MIN_MS = 30_000;

function u32Key(i: number): Buffer {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(i);
  return key;
}

function validate(opts: KernelCaptureOptions): Required<Omit<KernelCaptureOptions, "cgroupRoot">> {
  const ringBufferBytes = opts.ringBufferBytes ?? 8 << 20;
  if (!Number.isInteger(ringBufferBytes) || ringBufferBytes < 4096 || (ringBufferBytes & (ringBufferBytes - 1)) !== 0) {
    throw new Error(`ringBufferBytes ${ringBufferBytes} must be a power of two of at least 4096`);
  }
  const flushIntervalMs = opts.flushIntervalMs ?? 5000;
  if (!(flushIntervalMs >= 10)) throw new Error(`flushIntervalMs ${flushIntervalMs} must be at least 10`);
  const flowTableEntries = opts.flowTableEntries ?? 65536;
  if (!Number.isInteger(flowTableEntries) || flowTableEntries < 1) {
    throw new Error(`flowTableEntries ${flowTableEntries} must be a positive integer`);
  }
  return {
    ringBufferBytes,
    flushIntervalMs,
    flowTableEntries,
    tcInterfaces: opts.tcInterfaces ?? [],
    egressNat: opts.egressNat ?? true,
    egressNatNetns: opts.egressNatNetns ?? [],
    egressNatHook: opts.egressNatHook ?? "auto",
    objectPath: opts.objectPath ?? DEFAULT_OBJECT_PATH,
  };
}

function ifindexOf(name: string): number {
  try {
    return Number(fs.readFileSync(`/sys/class/net/${name}/ifindex`, "utf8").trim());
  } catch {
    throw new Error(`tcInterfaces: no network interface named ${name} in this network namespace`);
  }
}

export class KernelCapture {
  private readonly batchListeners: BatchListener[] = [];
  private readonly recordListeners: RecordsListener[] = [];
  private readonly batchBytes = Buffer.alloc(BATCH_RECORDS * FL_RECORD_SIZE);
  private readonly flushBytes = Buffer.alloc(FLUSH_CHUNK_RECORDS * FL_RECORD_SIZE);
  private flushing = false;
  /** Network namespaces of the observed processes: inode -> a path that enters it. */
  private netns = new Map<number, string>();
  private readonly flushTimer: NodeJS.Timeout;
  private lastFlushBootNs = 0n;
  /** Each open socket flow's packet count at the previous flush, by key. */
  private socketPackets = new Map<string, bigint>();
  private closed = false;
  /** How open sockets' counters are read: the storage map's iterator, or each network namespace's TCP sockets. */
  get socketIterator(): "map" | "netns" {
    return this.obj.programLoaded(SOCKET_FLOWS.program) ? "map" : "netns";
  }
  /** Where NAT bindings are read (conntrack events where they can be subscribed to), or null when not reported. */
  natHook: NatHook | null = null;
  private nat: EgressNatSource | null = null;
  /** The flow tables in use: the TC one only when TC programs are attached. */
  private readonly flowMaps: typeof FLOW_MAPS;

  /** Loads and attaches everything; throws an Error saying what failed and why (privileges, BTF, verifier). */
  static open(opts: KernelCaptureOptions): KernelCapture {
    const o = validate(opts);
    const root = resolveCgroupRoot(opts.cgroupRoot);
    const tcIfindexes = o.tcInterfaces.map((name) => ({ name, ifindex: ifindexOf(name) }));
    const native = loadNative();
    const obj = new native.BpfObject(o.objectPath, {
      maxEntries: { fl_events: o.ringBufferBytes, fl_flows: o.flowTableEntries, fl_tc_flows: o.flowTableEntries },
      optionalPrograms: OPTIONAL_PROGRAMS,
    });
    try {
      const mapIterator = obj.programLoaded(SOCKET_FLOWS.program);
      if (!mapIterator && !obj.programLoaded(SOCKET_FLOWS_BY_NETNS)) {
        throw new Error(
          `loading BPF object ${o.objectPath} failed: this kernel refuses both socket iterators (${SOCKET_FLOWS.program}, ${SOCKET_FLOWS_BY_NETNS}), ` +
            "so the open connections' counters cannot be read",
        );
      }
      if (!mapIterator) {
        // The per-namespace iterator starts inside each pod's namespace: prove it can before anything attaches.
        try {
          obj.iterate(SOCKET_FLOWS_BY_NETNS, "", "/proc/self/ns/net");
        } catch (err) {
          throw new Error(
            `this kernel refuses iterators over map elements, so open connections are read from each network namespace, ` +
              `which needs CAP_SYS_ADMIN to enter: ${(err as Error).message}`,
          );
        }
      }
      return new KernelCapture(native, obj, root, o.flushIntervalMs, tcIfindexes, o.egressNat ? { netns: o.egressNatNetns, hook: o.egressNatHook } : null);
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  private constructor(
    native: NativeModule,
    private readonly obj: NativeBpfObject,
    readonly root: CgroupRoot,
    readonly flushIntervalMs: number,
    tcIfindexes: Array<{ name: string; ifindex: number }>,
    egressNat: { netns: readonly string[]; hook: "auto" | NatHook } | null,
  ) {
    setObservedRoot(obj, root);
    this.refreshNetns();

    obj.startRingBuffer("fl_events", FL_RECORD_SIZE, this.batchBytes, (count) => {
      this.emit({ bytes: this.batchBytes, count, bootToWallNs: bootToWallClockOffsetNs() });
    });
    for (const prog of TRACING_PROGRAMS) obj.attachTracing(prog);
    if (egressNat) {
      this.nat = startEgressNat(native, obj, egressNat.netns, egressNat.hook, (records, count) => {
        // The connection's earlier records (its socket, its first packet) were written to the ring buffer
        // before conntrack confirmed it: hand those on first, so records keep the kernel's order.
        obj.drainRingBuffer();
        this.emit({ bytes: records, count, bootToWallNs: bootToWallClockOffsetNs() });
      });
      this.natHook = this.nat.hook;
    }
    obj.attachCgroup("fl_cgroup_ingress", root.dir);
    obj.attachCgroup("fl_cgroup_egress", root.dir);
    for (const { name, ifindex } of tcIfindexes) {
      try {
        obj.attachTcx("fl_tc_ingress", ifindex, "ingress");
        obj.attachTcx("fl_tc_egress", ifindex, "egress");
      } catch (err) {
        throw new Error(`tcInterfaces ${name}: ${(err as Error).message}`);
      }
    }
    this.flowMaps = FLOW_MAPS.filter((m) => m.hook !== "tc" || tcIfindexes.length > 0);
    this.lastFlushBootNs = this.nowBootNs();
    this.flushTimer = setInterval(() => this.flush(), flushIntervalMs);
    this.flushTimer.unref();
  }

  /** Registers a listener for each drained batch and each chunk of a flush, as the kernel's bytes. */
  onBatches(cb: BatchListener): void {
    this.batchListeners.push(cb);
  }

  /** Registers a listener for the same batches decoded into objects (convenient, but an object per record). */
  onRecords(cb: RecordsListener): void {
    this.recordListeners.push(cb);
  }

  private emit(batch: RecordBatch): void {
    if (batch.count === 0) return;
    for (const cb of this.batchListeners) cb(batch);
    if (this.recordListeners.length === 0) return;
    const records = decodeRecords(batch.bytes.subarray(0, batch.count * FL_RECORD_SIZE), batch.bootToWallNs);
    for (const cb of this.recordListeners) cb(records);
  }

  private nowBootNs(): bigint {
    return BigInt(Date.now()) * 1_000_000n - bootToWallClockOffsetNs();
  }

  private refreshNetns(): void {
    const current = netnsUnder(this.root.dir);
    for (const ino of this.netns.keys()) {
      if (!current.has(ino)) this.obj.mapDelete("fl_netns", u32Key(ino));
    }
    for (const ino of current.keys()) {
      if (!this.netns.has(ino)) this.obj.mapUpdate("fl_netns", u32Key(ino), Buffer.from([1]));
    }
    this.netns = current;
  }

  /** The open sockets' flows, as fl_flows entries back to back. */
  private readSocketFlows(): Buffer {
    if (this.socketIterator === "map") return this.obj.iterate(SOCKET_FLOWS.program, SOCKET_FLOWS.map);
    const parts: Buffer[] = [];
    for (const nsPath of this.netns.values()) {
      try {
        parts.push(this.obj.iterate(SOCKET_FLOWS_BY_NETNS, "", nsPath));
      } catch {
        // Its last process exited since the refresh: its sockets are closed and folded into fl_flows.
      }
    }
    return Buffer.concat(parts);
  }

  /**
   * Delivers pending ring-buffer records, then reports every flow active since the previous flush and
   * forgets flows idle for several intervals (their next packet starts a new flow). Records are handed on
   * FLUSH_CHUNK_RECORDS at a time, FLUSH_CHUNK_GAP_MS apart at most, each stamped with when its flow's
   * counters were read. Runs on the interval; callable any time (a call while a flush is being handed on is
   * covered by it).
   */
  flush(): void {
    if (this.closed || this.flushing) return;
    this.obj.drainRingBuffer();
    this.nat?.events?.drain();
    this.refreshNetns();
    const bootToWallNs = bootToWallClockOffsetNs();
    const now = this.nowBootNs();
    const idleBefore = now - BigInt(Math.max(IDLE_MIN_MS, IDLE_FLUSH_INTERVALS * this.flushIntervalMs)) * 1_000_000n;
    // fl_flows first, then the sockets: a socket folding its counters into fl_flows at close in between is
    // then reported once, by the next flush (the fold dates them after `now`), never twice.
    const tables = this.flowMaps.map(({ map, hook }) => ({ map, hook, ...this.obj.mapLookupBatch(map) }));
    const sockets = this.readSocketFlows();
    const socketRows = new Map<string, FlushRow>();
    for (let o = 0; o + SOCKET_FLOW_SIZE <= sockets.length; o += SOCKET_FLOW_SIZE) {
      const row: FlushRow = { keys: sockets, keyOffset: o, values: sockets, valueOffset: o + FL_FLOW_KEY_SIZE, hook: "cgroup_skb", map: null };
      socketRows.set(sockets.toString("latin1", o, o + FL_FLOW_KEY_SIZE), row);
    }
    const rows: FlushRow[] = [];
    for (const { map, hook, keys, values, count } of tables) {
      const idle: Buffer[] = [];
      const mayBeOnSocket = hook === "cgroup_skb" && socketRows.size > 0;
      for (let i = 0; i < count; i++) {
        const keyOffset = i * FL_FLOW_KEY_SIZE;
        const valueOffset = i * FL_FLOW_VALUE_SIZE;
        const onSocket =
          mayBeOnSocket && keys[keyOffset + KEY_PROTOCOL_OFFSET] === IPPROTO_TCP
            ? socketRows.get(keys.toString("latin1", keyOffset, keyOffset + FL_FLOW_KEY_SIZE))
            : undefined;
        if (onSocket) {
          mergeCounters(onSocket, values, valueOffset);
          continue;
        }
        const lastSeen = values.readBigUInt64LE(valueOffset + VALUE_LAST_SEEN);
        if (lastSeen > this.lastFlushBootNs) rows.push({ keys, keyOffset, values, valueOffset, hook, map });
        else if (lastSeen < idleBefore) idle.push(keys.subarray(keyOffset, keyOffset + FL_FLOW_KEY_SIZE));
      }
      if (idle.length > 0) this.obj.mapDeleteBatch(map, Buffer.concat(idle));
    }
    // A socket flow is reported when its count moved: an established connection's last_seen is TCP's last
    // activity stamp, which a delayed ACK does not move.
    const socketPackets = new Map<string, bigint>();
    for (const [key, row] of socketRows) {
      const packets = row.values.readBigUInt64LE(row.valueOffset + VALUE_PACKETS);
      if (this.socketPackets.get(key) !== packets) rows.push(row);
      socketPackets.set(key, packets);
    }
    this.socketPackets = socketPackets;
    this.lastFlushBootNs = now;
    const chunks = Math.ceil(rows.length / FLUSH_CHUNK_RECORDS);
    const gapMs = Math.min(FLUSH_CHUNK_GAP_MS, Math.floor(this.flushIntervalMs / 2 / Math.max(1, chunks)));
    let next = 0;
    const handOn = (first: boolean) => {
      if (this.closed) {
        this.flushing = false;
        return;
      }
      // The first chunk uses the counters just read; later ones read their flows' counters again right before
      // they are handed on, so every record is stamped with when its counters were read, however long the
      // chunks before it took. A flow that left the table meanwhile is skipped. Socket rows keep what the
      // iterator read (stamped with the flush's time).
      const chunk: Array<{ row: FlushRow; values: Buffer; valueOffset: number; readNs: bigint }> = [];
      const readNs = first ? now : this.nowBootNs();
      while (next < rows.length && chunk.length < FLUSH_CHUNK_RECORDS) {
        const row = rows[next++];
        if (first || row.map === null) {
          chunk.push({ row, values: row.values, valueOffset: row.valueOffset, readNs: now });
          continue;
        }
        const value = this.obj.mapLookup(row.map, row.keys.subarray(row.keyOffset, row.keyOffset + FL_FLOW_KEY_SIZE));
        if (value) chunk.push({ row, values: value, valueOffset: 0, readNs });
      }
      chunk.forEach((c, i) => writeFlushRecord(this.flushBytes, i * FL_RECORD_SIZE, c.row.keys, c.row.keyOffset, c.values, c.valueOffset, c.row.hook, c.readNs));
      // Scheduled before the listeners run, so one that throws does not stop the flush.
      this.flushing = next < rows.length;
      if (this.flushing) setTimeout(() => handOn(false), gapMs);
      this.emit({ bytes: this.flushBytes, count: chunk.length, bootToWallNs });
    };
    this.flushing = true;
    handOn(true);
  }

  lossStats(): LossStats {
    const sum = (idx: number): number => {
      const values = this.obj.mapLookup("fl_stats", u32Key(idx));
      let total = 0;
      for (let o = 0; values && o < values.length; o += 8) total += Number(values.readBigUInt64LE(o));
      return total;
    };
    return {
      ringbufLost: sum(STAT_RINGBUF_LOST),
      flowTableFull: sum(STAT_FLOW_TABLE_FULL),
      events: sum(STAT_EVENTS),
      natEventOverflows: this.nat?.events?.stats().overflows ?? 0,
    };
  }

  /** How many programs are attached now (links owned by this capture). */
  attachmentCount(): number {
    return this.obj.attachments();
  }

  programStats(): ProgramStats[] {
    return this.obj
      .programStats()
      .map((s) => ({ ...s, nsPerRun: s.runCount > 0 ? s.runTimeNs / s.runCount : 0 }));
  }

  /** Detaches every program and frees the maps. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.flushTimer);
    this.nat?.events?.close();
    this.obj.close();
  }
}
