// History store candidates side by side on the same flows (encoded
// GetFlowsResponse, ~300 bytes, time-ordered with jitter like real merged
// streams): SQLite through the relay's own FlowHistory, and an append-only
// segmented log with a sparse time index (the simplest "custom" store).
// Measures ingest rate, time to answer a since/until range, and bytes on disk.
// Usage: node --import tsx bench/relay/history-store.ts [flows, default 300000]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FlowHistory } from "../../relay/history/store";
import { encodeResponse } from "../../relay/wire";

const N = Number(process.argv[2] ?? 300_000);
const BATCH = 2500; // one flush per 250 ms at 10,000 flows/s
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-history-bench-"));

function makeFlows(): { timeUs: number; uuid: string; data: Buffer }[] {
  const startUs = Date.now() * 1000 - N * 1000;
  const out = [];
  for (let i = 0; i < N; i++) {
    const timeUs = startUs + i * 1000 + ((i * 7919) % 50_000); // 1 ms apart, up to 50 ms out of order
    const uuid = `bench-${i.toString(16).padStart(10, "0")}`;
    const seconds = Math.floor(timeUs / 1e6);
    const data = encodeResponse({
      flow: {
        time: { seconds, nanos: (timeUs - seconds * 1e6) * 1000 },
        uuid,
        verdict: "FORWARDED",
        IP: { source: `198.18.4.${i % 250}`, destination: "198.18.4.251", ipVersion: "IPv4" },
        l4: { TCP: { source_port: 30000 + (i % 30000), destination_port: 8080, flags: { ACK: true } } },
        source: { namespace: "bench", pod_name: `client-${i % 40}`, labels: ["app=client", "tier=web"] },
        destination: { namespace: "bench", pod_name: "server-0", labels: ["app=server"] },
        node_name: `node-${i % 8}`,
        traffic_direction: "EGRESS",
        flowlens: { packets: 10, bytes: 4000, srtt_us: 200 },
      },
      node_name: `node-${i % 8}`,
    });
    out.push({ timeUs, uuid, data });
  }
  return out;
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
}

/** Append-only segments of [u32 length][f64 timeUs][payload]; every 256th record's time and offset is indexed in memory. */
class SegmentLog {
  private fd: number;
  private offset = 0;
  private readonly index: { timeUs: number; offset: number }[] = [];
  private pending: Buffer[] = [];
  private count = 0;
  constructor(private readonly file: string) {
    this.fd = fs.openSync(file, "a+");
  }
  append(timeUs: number, data: Buffer): void {
    const head = Buffer.allocUnsafe(12);
    head.writeUInt32LE(data.length, 0);
    head.writeDoubleLE(timeUs, 4);
    if ((this.count++ & 255) === 0) this.index.push({ timeUs, offset: this.offset + this.pending.reduce((s, b) => s + b.length, 0) });
    this.pending.push(head, data);
  }
  flush(): void {
    const buf = Buffer.concat(this.pending);
    this.pending = [];
    fs.writeSync(this.fd, buf, 0, buf.length, this.offset);
    this.offset += buf.length;
  }
  /** Records out of order by up to `slackUs` are found by starting the scan that much earlier. */
  range(sinceUs: number, untilUs: number, slackUs: number): Buffer[] {
    const sorted = (rows: { t: number; data: Buffer }[]) => rows.sort((a, b) => a.t - b.t).map((r) => r.data);
    let lo = 0;
    let hi = this.index.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.index[mid].timeUs < sinceUs - slackUs) lo = mid;
      else hi = mid - 1;
    }
    let pos = this.index[lo]?.offset ?? 0;
    const out: { t: number; data: Buffer }[] = [];
    const chunk = Buffer.allocUnsafe(1 << 20);
    let buffered = 0;
    let start = 0;
    for (;;) {
      if (buffered - start < 12) {
        chunk.copy(chunk, 0, start, buffered);
        buffered -= start;
        start = 0;
        const n = fs.readSync(this.fd, chunk, buffered, chunk.length - buffered, pos);
        if (n === 0) return sorted(out);
        pos += n;
        buffered += n;
        continue;
      }
      const len = chunk.readUInt32LE(start);
      if (buffered - start < 12 + len) {
        chunk.copy(chunk, 0, start, buffered);
        buffered -= start;
        start = 0;
        const n = fs.readSync(this.fd, chunk, buffered, chunk.length - buffered, pos);
        if (n === 0) return sorted(out);
        pos += n;
        buffered += n;
        continue;
      }
      const t = chunk.readDoubleLE(start + 4);
      if (t > untilUs + slackUs) return sorted(out);
      if (t >= sinceUs && t <= untilUs) out.push({ t, data: Buffer.from(chunk.subarray(start + 12, start + 12 + len)) });
      start += 12 + len;
    }
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

function time<T>(fn: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t0) / 1e6];
}

const flows = makeFlows();
const mid = flows[Math.floor(N / 2)].timeUs;
const ranges = [
  { label: "1 s range", since: mid, until: mid + 1e6 },
  { label: "60 s range", since: mid, until: mid + 60e6 },
];
console.log(`history store candidates, ${N.toLocaleString("en-US")} flows of ~${flows[0].data.length} bytes, batches of ${BATCH}, ${os.cpus().length} shared CPUs`);

const sqliteDir = path.join(tmp, "sqlite");
const history = new FlowHistory(sqliteDir, { retentionMs: 365 * 86_400_000, maxBytes: 1e12 });
const [, sqliteIngestMs] = time(() => {
  for (let i = 0; i < N; i += BATCH) {
    for (const f of flows.slice(i, i + BATCH)) history.append(f.timeUs, f.uuid, "node", f.data);
    history.flush();
  }
});
const sqliteRanges = ranges.map((r) => time(() => [...history.pages(r.since, r.until)].flat().length));
history.close();

const logDir = path.join(tmp, "log");
fs.mkdirSync(logDir);
const log = new SegmentLog(path.join(logDir, "segment-0"));
const [, logIngestMs] = time(() => {
  for (let i = 0; i < N; i += BATCH) {
    for (const f of flows.slice(i, i + BATCH)) log.append(f.timeUs, f.data);
    log.flush();
  }
});
const logRanges = ranges.map((r) => time(() => log.range(r.since, r.until, 100_000).length));
log.close();

const row = (name: string, ingestMs: number, rs: [number, number][], bytes: number) =>
  console.log(
    `${name.padEnd(34)} ingest ${Math.round(N / (ingestMs / 1000)).toLocaleString("en-US").padStart(9)} flows/s   ` +
      rs.map(([n, ms], i) => `${ranges[i].label}: ${n} flows in ${ms.toFixed(1)} ms`).join("   ") +
      `   disk ${(bytes / 1e6).toFixed(1)} MB`,
  );
row("SQLite (WAL, time index, relay)", sqliteIngestMs, sqliteRanges, dirBytes(sqliteDir));
row("append-only segment log", logIngestMs, logRanges, dirBytes(logDir));
console.log(
  `SQLite relative to the log, same run: ingest ${(logIngestMs / sqliteIngestMs).toFixed(2)}x the rate, 60 s range ${(sqliteRanges[1][1] / logRanges[1][1]).toFixed(2)}x the time   (load avg ${os.loadavg()[0].toFixed(1)})`,
);
fs.rmSync(tmp, { recursive: true, force: true });
