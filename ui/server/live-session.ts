// One page's live view: its own filtered service map and a batched flow
// stream, sent as Server-Sent Events. Batching (a few per second, a capped
// number of flows each) keeps the page's work bounded at any flow rate.
import type { ServerResponse } from "node:http";
import type { Flow } from "../../proto/types";
import { matchesQuery, type FlowQuery } from "../shared/flow-view";
import type { LiveBatch } from "../shared/wire";
import type { FlowHub } from "./flow-hub";
import { ServiceMapAggregator } from "./service-map";

const BATCH_INTERVAL_MS = 250;
const MAP_INTERVAL_MS = 1000;
/** Large maps are sent less often: each one is hundreds of kilobytes and a full repaint on the page. */
const LARGE_MAP_EDGES = 1000;
const LARGE_MAP_INTERVAL_MS = 3000;
const MAX_FLOWS_PER_BATCH = 100;
const HEARTBEAT_MS = 15_000;

export class LiveSession {
  private readonly map = new ServiceMapAggregator();
  private pending: Flow[] = [];
  private skipped = 0;
  private lastMapSent = 0;
  private mapIntervalMs = MAP_INTERVAL_MS;
  private lastWrite = 0;
  private readonly unsubscribe: () => void;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    private readonly hub: FlowHub,
    private readonly query: FlowQuery,
  ) {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write("retry: 2000\n\n");
    this.unsubscribe = hub.subscribe((f) => this.onFlow(f));
    // The ring replay above is history: only the newest of it goes to the table.
    this.pending = this.pending.slice(-MAX_FLOWS_PER_BATCH);
    this.skipped = 0;
    this.flush(true);
    this.timer = setInterval(() => this.flush(false), BATCH_INTERVAL_MS);
    res.on("close", () => this.close());
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe();
  }

  private onFlow(flow: Flow): void {
    if (!matchesQuery(flow, this.query)) return;
    this.map.add(flow);
    if (this.pending.length < MAX_FLOWS_PER_BATCH) this.pending.push(flow);
    else {
      // Keep the newest: drop the oldest pending flow.
      this.pending.shift();
      this.pending.push(flow);
      this.skipped++;
    }
  }

  private flush(force: boolean): void {
    const now = Date.now();
    const sendMap = force || now - this.lastMapSent >= this.mapIntervalMs;
    if (!sendMap && this.pending.length === 0 && now - this.lastWrite < HEARTBEAT_MS) return;
    const map = sendMap ? this.map.snapshot(now) : undefined;
    if (map) this.mapIntervalMs = map.edges.length > LARGE_MAP_EDGES ? LARGE_MAP_INTERVAL_MS : MAP_INTERVAL_MS;
    const batch: LiveBatch = {
      status: { ...this.hub.status, flowsPerSec: Math.round(this.map.flowsPerSecond(now) * 10) / 10 },
      map,
      flows: this.pending,
      skipped: this.skipped,
    };
    if (sendMap) this.lastMapSent = now;
    this.pending = [];
    this.skipped = 0;
    this.lastWrite = now;
    this.res.write(`event: batch\ndata: ${JSON.stringify(batch)}\n\n`);
  }
}
