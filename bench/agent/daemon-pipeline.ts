/**
 * Daemon stage of ingestion: how many kernel records per CPU-second one core takes from ring-buffer batches
 * into the flow ring (reading the record, enrichment, reply tracking, the ring's columns, metrics), and the
 * heap that costs. Records are synthetic struct fl_record bytes (a mix of flow starts, TCP flags, flushes,
 * socket records and drops over 5,000 pods) cut into 4,096-record batches as the native addon delivers
 * them, so this measures the daemon alone; bench/agent/ingest.ts measures the kernel side.
 * Compared side by side in one run: reading the arrival fields alone, decoding whole records into objects
 * (what a reader pays per flow), and the agent's whole per-record path (RecordIngest).
 * The input is a pool of 300,000 distinct records cycled through, as flows recur on a real node.
 *   node --expose-gc --import tsx bench/agent/daemon-pipeline.ts   (env: RECORDS=2000000 RING=65536 POOL=300000)
 */
import * as fs from "node:fs";
import { FlowBuilder } from "../../agent/daemon/flow-builder";
import { FlowColumns, FlowIds } from "../../agent/daemon/flow-entry";
import { FlowRing } from "../../agent/daemon/flow-ring";
import { AgentMetrics } from "../../agent/daemon/metrics";
import { NatTable } from "../../agent/daemon/nat-table";
import { RecordIngest } from "../../agent/daemon/record-ingest";
import { EndpointIndex } from "../../agent/enrichment/endpoint-index";
import type { Enrichment } from "../../agent/enrichment/types";
import { decodeRecords, FL_RECORD_SIZE, FL_RECORD_VERSION, RecordCursor } from "../../agent/kernel/record";

const RECORDS = Number(process.env.RECORDS ?? 2_000_000);
const RING = Number(process.env.RING ?? 65_536);
// Above the daemon's 65,536-flow tables, so their eviction is part of the figure (as on a node with many flows).
const POOL = Number(process.env.POOL ?? 300_000);
const BATCH = 4096;
const PODS = 5000;

function rssMiB(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))![1]) / 1024;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Heap after a full collection (needs --expose-gc) and RSS. */
function memory(): string {
  gc();
  const m = process.memoryUsage();
  return `heap ${(m.heapUsed / 2 ** 20).toFixed(1)} MiB, external + array buffers ${((m.external + m.arrayBuffers) / 2 ** 20).toFixed(1)} MiB, RSS ${rssMiB().toFixed(1)} MiB`;
}

function podIp(i: number): number[] {
  return [10, (i >> 16) & 255, (i >> 8) & 255, i & 255];
}

function enrichment(): Enrichment {
  const index = new EndpointIndex();
  for (let i = 0; i < PODS; i++) {
    index.upsertPod(
      { namespace: `ns-${i % 50}`, name: `pod-${i}`, labels: { app: `app-${i % 200}`, tier: "backend" }, workloads: [{ name: `app-${i % 200}`, kind: "Deployment" }], ips: [podIp(i).join(".")] },
      [BigInt(100_000 + i)],
    );
  }
  return {
    podByCgroup: (id) => index.podByCgroup(id),
    podByIp: (ip) => index.podByIp(ip),
    serviceByIp: (ip) => index.serviceByIpAddress(ip),
    synced: true,
    close: async () => undefined,
  };
}

// flow_start, tcp_flags, flush x3, sock_close, tcp_flags, drop (kind codes of bpf/include/flowlens_events.h).
const KINDS = [1, 2, 3, 3, 3, 6, 2, 8];

/** `n` struct fl_record in one Buffer. */
function records(n: number): Buffer {
  const buf = Buffer.alloc(n * FL_RECORD_SIZE);
  const bootNs = 1_000_000_000_000n;
  for (let i = 0; i < n; i++) {
    const o = i * FL_RECORD_SIZE;
    const a = i % PODS;
    const b = (i * 7 + 13) % PODS;
    const kind = KINDS[i % KINDS.length];
    const udp = i % 5 === 0;
    buf[o] = kind;
    buf[o + 1] = FL_RECORD_VERSION;
    buf[o + 2] = kind === 6 ? 3 : kind === 8 ? 4 : 1;
    buf[o + 3] = udp ? 0 : 0x1b;
    buf[o + 4] = udp ? 0 : kind === 1 ? 0x02 : 0x11;
    if (kind === 8) buf.writeUInt32LE(6, o + 8);
    buf.writeUInt32LE(2, o + 12);
    buf.writeBigUInt64LE(bootNs + BigInt(i), o + 16);
    const k = o + 24;
    buf[k + 10] = buf[k + 11] = buf[k + 26] = buf[k + 27] = 0xff;
    buf.set(podIp(a), k + 12);
    buf.set(podIp(b), k + 28);
    buf.writeUInt16LE(30000 + (i % 30000), k + 32);
    buf.writeUInt16LE(8080, k + 34);
    buf[k + 36] = udp ? 17 : 6;
    buf[k + 37] = 4;
    buf[k + 38] = i % 2 === 0 ? 2 : 1;
    buf.writeBigUInt64LE(BigInt(100_000 + a), k + 40);
    buf.writeUInt32LE(1 + (i % 100), o + 72);
    buf.writeUInt32LE(60 + (i % 100) * 1000, o + 80);
    buf.writeBigUInt64LE(bootNs, o + 88);
    buf.writeBigUInt64LE(bootNs + BigInt(i), o + 96);
    buf.writeBigUInt64LE(BigInt(i), o + 104);
    if (kind === 6) {
      buf.writeUInt32LE(1000, o + 112);
      buf.writeUInt32LE(3000, o + 120);
      buf.writeUInt32LE(150, o + 136);
    }
  }
  return buf;
}

/** Feeds RECORDS records from the pool in batches of BATCH; returns records per CPU-second. */
function measure(label: string, pool: Buffer, body: (batch: Buffer, count: number) => void): number {
  const poolRecords = pool.length / FL_RECORD_SIZE;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let done = 0, at = 0; done < RECORDS; ) {
    const count = Math.min(BATCH, RECORDS - done, poolRecords - at);
    body(pool.subarray(at * FL_RECORD_SIZE, (at + count) * FL_RECORD_SIZE), count);
    done += count;
    at = at + count === poolRecords ? 0 : at + count;
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  // On a shared machine the process may not get a whole core: records per CPU-second is the capacity of one core.
  const perCpuSecond = RECORDS / cpuSeconds;
  console.log(`${label.padEnd(44)} ${Math.round(perCpuSecond).toLocaleString("en-US").padStart(10)} records per CPU-second (CPU ${((cpuSeconds / wall) * 100).toFixed(0)}% of one core)  ${memory()}`);
  return perCpuSecond;
}

function main(): void {
  const pool = records(POOL);
  console.log(`${RECORDS.toLocaleString("en-US")} records from a pool of ${POOL.toLocaleString("en-US")} (${(pool.length / 2 ** 20).toFixed(0)} MiB of record bytes), ${PODS} pods, ring of ${RING.toLocaleString("en-US")}, batches of ${BATCH}; load average ${fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]}`);
  console.log(`before: ${memory()}`);
  const enrich = enrichment();
  const bootToWallNs = BigInt(Date.now()) * 1_000_000n - 1_000_000_000_000n;

  const cursor = new RecordCursor();
  let sink = 0;
  measure("read arrival fields (RecordCursor)", pool, (batch, count) => {
    cursor.over(batch);
    for (let o = 0; o < count * FL_RECORD_SIZE; o += FL_RECORD_SIZE) sink += cursor.at(o).packets;
  });
  measure("decode into objects (decodeRecords)", pool, (batch) => {
    sink += decodeRecords(batch, bootToWallNs).length;
  });

  const columns = new FlowColumns(RING, new FlowIds("bench-node"));
  const ring = new FlowRing(RING, columns);
  const parts = { ring, columns, builder: new FlowBuilder({ nodeName: "bench-node", enrichment: enrich }), metrics: new AgentMetrics(), nat: new NatTable(), onNat: () => undefined };
  const ingest = new RecordIngest(parts);
  // Warm-up so the JIT has compiled the hot path before the figure is taken.
  ingest.ingest({ bytes: pool.subarray(0, BATCH * FL_RECORD_SIZE), count: BATCH, bootToWallNs }, 0);
  const full = measure("agent path (RecordIngest: ring + metrics)", pool, (batch, count) => ingest.ingest({ bytes: batch, count, bootToWallNs }, 0));
  console.log(`target 200,000 records per CPU-second: ${full >= 200_000 ? "met" : "NOT met"} (${Math.round(full).toLocaleString("en-US")})`);

  // Reading the ring builds Flow objects: time one full pass, as a GetFlows over the whole ring would.
  const t0 = process.hrtime.bigint();
  let read = 0;
  for (const e of ring.events()) if (e.entry?.flow.uuid) read++;
  console.log(`reading the full ring as flows: ${read.toLocaleString("en-US")} flows in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms wall`);
  console.log(`with the full ring and the input pool: ${memory()}`);
}

main();
