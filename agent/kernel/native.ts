/**
 * Typed access to the libbpf addon (agent/native). Built by `make bpf`.
 */
import * as path from "node:path";

export interface MapInfo {
  fd: number;
  type: number;
  keySize: number;
  /** Bytes per value as read from userspace (per-CPU maps: one 8-byte-aligned slot per possible CPU). */
  valueSize: number;
  maxEntries: number;
}

export interface MapBatch {
  keys: Buffer;
  values: Buffer;
  count: number;
}

export interface NativeProgramStats {
  name: string;
  id: number;
  runCount: number;
  runTimeNs: number;
}

/** A loaded BPF object. Attachments are fd-based links: close() or process exit detaches them. */
export interface NativeBpfObject {
  attachCgroup(program: string, cgroupDir: string): number;
  attachTracing(program: string): number;
  attachTcx(program: string, ifindex: number, direction: "ingress" | "egress"): number;
  /** A netfilter link (Linux 6.4+) in the namespace at netnsPath ("" or omitted: this process's own). */
  attachNetfilter(program: string, pf: number, hooknum: number, priority: number, netnsPath?: string): number;
  /** Whether the program is loaded (netfilter programs are left out where the kernel has none). */
  programLoaded(program: string): boolean;
  detach(attachmentId: number): boolean;
  attachments(): number;
  mapInfo(map: string): MapInfo;
  mapLookup(map: string, key: Buffer): Buffer | null;
  mapUpdate(map: string, key: Buffer, value: Buffer): void;
  mapDelete(map: string, key: Buffer): boolean;
  mapLookupBatch(map: string): MapBatch;
  mapDeleteBatch(map: string, keys: Buffer): number;
  /**
   * Streams fixed-size records: each drain copies up to batch.length / recordSize records into `batch`, back
   * to back, and calls onBatch with their count; the next drain overwrites them.
   */
  startRingBuffer(map: string, recordSize: number, batch: Buffer, onBatch: (count: number) => void): void;
  /** Delivers up to one batch of pending records now; returns how many. */
  drainRingBuffer(): number;
  programStats(): NativeProgramStats[];
  /** Runs a program on `packet` in the kernel without attaching it (BPF_PROG_TEST_RUN); average ns per run. */
  testRun(program: string, packet: Buffer, repeat: number): { retval: number; nsPerRun: number };
  /**
   * Runs an iterator program over a map's elements, or with map "" over what its target walks (the TCP
   * sockets of the network namespace at `netnsPath`, default this thread's); returns everything it wrote.
   */
  iterate(program: string, map: string, netnsPath?: string): Buffer;
  close(): void;
}

export interface NativeLoadOptions {
  /** Map sizes set before load, by map name. */
  maxEntries?: Record<string, number>;
  /** Programs the kernel may refuse: the object then loads without them (see programLoaded). */
  optionalPrograms?: string[];
}

/** Conntrack's new-connection events in some namespaces, as FL_REC_NAT records (source-translated ones only). */
export interface NativeConntrackEvents {
  /** Reads and hands on what is waiting now; returns how many records. */
  drain(): number;
  stats(): { translated: number; overflows: number; malformed: number };
  close(): void;
}

export interface NativeModule {
  BpfObject: new (objectPath: string, options?: NativeLoadOptions) => NativeBpfObject;
  /** Subscribes in each namespace (none: this process's); `onRecords` gets `count` records of FL_RECORD_SIZE bytes. */
  ConntrackEvents: new (netnsPaths: string[], onRecords: (records: Buffer, count: number) => void) => NativeConntrackEvents;
  bootToWallClockOffsetNs(): bigint;
  possibleCpus(): number;
  recordSize: number;
  recordVersion: number;
  flowValueSize: number;
}

export const ADDON_PATH = path.resolve(__dirname, "../native/build/Release/flowlens_bpf.node");

let loaded: NativeModule | undefined;

export function loadNative(): NativeModule {
  if (!loaded) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require(ADDON_PATH) as NativeModule;
    } catch (err) {
      throw new Error(`loading the BPF addon ${ADDON_PATH} failed: ${(err as Error).message}; build it with \`make bpf\``);
    }
  }
  return loaded;
}
