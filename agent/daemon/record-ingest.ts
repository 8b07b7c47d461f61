// The agent's per-record path: each kernel record of a batch is copied into the ring's columns, resolved
// (pods, services, reply status, NAT) and counted in the metrics. Only the fields needed on arrival are
// read, into one reused cursor, so a record costs no JavaScript objects of its own.
import type { RecordBatch } from "../kernel/capture";
import { decodeRecordAt, FL_RECORD_SIZE, RecordCursor, type KernelRecord } from "../kernel/record";
import type { FlowBuilder } from "./flow-builder";
import type { FlowColumns } from "./flow-entry";
import type { FlowRing } from "./flow-ring";
import type { AgentMetrics } from "./metrics";
import type { NatTable } from "./nat-table";

export interface RecordIngestParts {
  ring: FlowRing;
  /** The ring's columns (slot i of the ring is slot i here). */
  columns: FlowColumns;
  builder: FlowBuilder;
  metrics: AgentMetrics;
  nat: NatTable;
  /** Called with each nat record (a translation, not a flow). */
  onNat: (r: KernelRecord) => void;
}

export class RecordIngest {
  private readonly cursor = new RecordCursor();

  constructor(private readonly parts: RecordIngestParts) {}

  /** Stores every record of `batch` in the ring; `nowMs` is their arrival time. */
  ingest(batch: RecordBatch, nowMs: number): void {
    const { ring, columns, builder, metrics, nat } = this.parts;
    const cursor = this.cursor.over(batch.bytes);
    metrics.received(batch.count);
    for (let i = 0, o = 0; i < batch.count; i++, o += FL_RECORD_SIZE) {
      const r = cursor.at(o);
      if (r.kind === "nat") {
        this.parts.onNat(decodeRecordAt(batch.bytes, o, batch.bootToWallNs));
        continue;
      }
      const slot = ring.nextSlot;
      columns.storeBytes(slot, batch.bytes, o, batch.bootToWallNs);
      builder.resolve(r, columns, slot);
      columns.sourceXlated[slot] = nat.sourceXlatedOf(r);
      ring.pushStored(nowMs);
      metrics.observe(r, columns.isReply(slot));
    }
    metrics.ringFlows.set(ring.size);
  }
}
