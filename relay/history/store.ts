// Flow history on a volume: SQLite (better-sqlite3) in WAL mode, one row per
// flow holding the encoded GetFlowsResponse, indexed by time. Writes are
// batched into one transaction per flush; retention deletes by age and, when
// the database outgrows its budget, the oldest rows first. docs/relay.md has
// the measurements behind choosing SQLite.
import * as fs from "node:fs";
import * as path from "node:path";
import Database from "better-sqlite3";
import { CommandError } from "../../cli/lib/errors";

const ROWS_PER_INSERT = 100;

export interface HistoryOptions {
  retentionMs: number;
  maxBytes: number;
}

export interface HistoryRow {
  timeUs: number;
  uuid: string;
  data: Buffer;
}

export class FlowHistory {
  private readonly db: Database.Database;
  private pending: [number, string, string, Buffer][] = [];
  private readonly insertMany: (rows: [number, string, string, Buffer][]) => void;
  private readonly pageStmt: Database.Statement;
  private readonly firstPageStmt: Database.Statement;
  readonly file: string;

  constructor(dir: string, private readonly options: HistoryOptions) {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new CommandError(`cannot create --history-dir ${dir} (${(err as NodeJS.ErrnoException).code}); mount a writable volume there`);
    }
    this.file = path.join(dir, "flows.sqlite");
    this.db = new Database(this.file);
    this.db.pragma("auto_vacuum = INCREMENTAL");
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(`CREATE TABLE IF NOT EXISTS flows (time_us INTEGER NOT NULL, uuid TEXT NOT NULL, node TEXT NOT NULL, data BLOB NOT NULL);
                  CREATE INDEX IF NOT EXISTS flows_by_time ON flows (time_us);`);
    // Multi-row INSERTs: per-statement overhead, not SQLite itself, dominates single-row inserts.
    const insertOne = this.db.prepare("INSERT INTO flows (time_us, uuid, node, data) VALUES (?, ?, ?, ?)");
    const insertBlock = this.db.prepare(`INSERT INTO flows (time_us, uuid, node, data) VALUES ${Array(ROWS_PER_INSERT).fill("(?, ?, ?, ?)").join(", ")}`);
    this.insertMany = this.db.transaction((rows: [number, string, string, Buffer][]) => {
      let i = 0;
      for (; i + ROWS_PER_INSERT <= rows.length; i += ROWS_PER_INSERT) insertBlock.run(rows.slice(i, i + ROWS_PER_INSERT).flat());
      for (; i < rows.length; i++) insertOne.run(rows[i]);
    });
    this.firstPageStmt = this.db.prepare("SELECT rowid, time_us, uuid, data FROM flows WHERE time_us >= ? AND time_us <= ? ORDER BY time_us, rowid LIMIT ?");
    // The time range bounds the index scan; (time, rowid) continues after the previous page.
    this.pageStmt = this.db.prepare(
      "SELECT rowid, time_us, uuid, data FROM flows WHERE time_us >= ? AND time_us <= ? AND (time_us > ? OR rowid > ?) ORDER BY time_us, rowid LIMIT ?",
    );
  }

  append(timeUs: number, uuid: string, node: string, data: Buffer): void {
    this.pending.push([timeUs, uuid, node, data]);
  }

  flush(): number {
    if (!this.pending.length) return 0;
    const rows = this.pending;
    this.pending = [];
    this.insertMany(rows);
    return rows.length;
  }

  /** Newest stored flow time, 0 when empty. */
  newestUs(): number {
    const row = this.db.prepare("SELECT MAX(time_us) AS t FROM flows").get() as { t: number | null };
    return row.t ?? 0;
  }

  oldestUs(): number {
    const row = this.db.prepare("SELECT MIN(time_us) AS t FROM flows").get() as { t: number | null };
    return row.t ?? 0;
  }

  count(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM flows").get() as { n: number }).n;
  }

  /** Uuids of flows at or after `fromUs`, to seed de-duplication after a restart. */
  uuidsSince(fromUs: number): { uuid: string; timeUs: number }[] {
    return (this.db.prepare("SELECT uuid, time_us FROM flows WHERE time_us >= ?").all(fromUs) as { uuid: string; time_us: number }[]).map((r) => ({
      uuid: r.uuid,
      timeUs: r.time_us,
    }));
  }

  /** Rows with sinceUs <= time <= untilUs in time order, `pageSize` at a time so callers can yield between pages. */
  *pages(sinceUs: number, untilUs: number, pageSize = 2000): Generator<HistoryRow[]> {
    type Raw = { rowid: number; time_us: number; uuid: string; data: Buffer };
    let rows = this.firstPageStmt.all(sinceUs, untilUs, pageSize) as Raw[];
    while (rows.length) {
      yield rows.map((r) => ({ timeUs: r.time_us, uuid: r.uuid, data: r.data }));
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1];
      rows = this.pageStmt.all(last.time_us, untilUs, last.time_us, last.rowid, pageSize) as Raw[];
    }
  }

  /** Bytes the rows occupy (the file minus its free pages). */
  usedBytes(): number {
    const pageSize = this.db.pragma("page_size", { simple: true }) as number;
    const pages = this.db.pragma("page_count", { simple: true }) as number;
    const free = this.db.pragma("freelist_count", { simple: true }) as number;
    return (pages - free) * pageSize;
  }

  /** Deletes flows older than the retention, then the oldest tenth at a time while over the size budget. */
  enforceRetention(nowMs = Date.now()): { byAge: number; bySize: number } {
    const byAge = this.db.prepare("DELETE FROM flows WHERE time_us < ?").run((nowMs - this.options.retentionMs) * 1000).changes;
    let bySize = 0;
    while (this.usedBytes() > this.options.maxBytes) {
      const n = Math.max(1, Math.ceil(this.count() / 10));
      const deleted = this.db.prepare("DELETE FROM flows WHERE rowid IN (SELECT rowid FROM flows ORDER BY time_us LIMIT ?)").run(n).changes;
      bySize += deleted;
      if (!deleted) break;
    }
    if (byAge || bySize) {
      this.db.pragma("wal_checkpoint(TRUNCATE)");
      this.db.pragma("incremental_vacuum");
    }
    return { byAge, bySize };
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
