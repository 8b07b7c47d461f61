// Keeps the history store fed: one unfiltered, followed stream per peer
// (resumed like any relay stream, so an agent restart loses nothing still in
// its ring), flushed to the store every `flushMs`, with retention applied
// every `retentionCheckMs`. After a relay restart it resumes from the newest
// stored flow, seeded with the uuids around it so nothing is stored twice.
import type { Peer } from "../peer";
import type { PeerSet } from "../peer-set";
import { PeerStream } from "../peer-stream";
import { RecentUuids } from "../recent-uuids";
import { scannedUuid, usToTimestamp } from "../wire";
import type { FlowHistory } from "./store";

export interface IngestOptions {
  flushMs: number;
  retentionCheckMs: number;
  resumeWindowUs: number;
}

export class HistoryIngest {
  private readonly streams = new Map<Peer, PeerStream>();
  private readonly dedupe: RecentUuids;
  private readonly sinceUs: number;
  private flushTimer?: NodeJS.Timeout;
  private retentionTimer?: NodeJS.Timeout;
  private readonly onAdded = (peer: Peer) => this.follow(peer);
  private readonly onRemoved = (peer: Peer) => this.unfollow(peer);
  ingested = 0;

  constructor(private readonly store: FlowHistory, private readonly peers: PeerSet, private readonly opts: IngestOptions, private readonly log: (msg: string) => void) {
    this.dedupe = new RecentUuids(1 << 20);
    const newest = store.newestUs();
    // Empty store: take whatever the agents' rings still hold.
    this.sinceUs = newest ? newest - opts.resumeWindowUs : 1_000_000;
    if (newest) for (const r of store.uuidsSince(this.sinceUs)) this.dedupe.recordUuid(r.timeUs, r.uuid);
  }

  start(): void {
    this.peers.on("added", this.onAdded);
    this.peers.on("removed", this.onRemoved);
    for (const p of this.peers.list()) this.follow(p);
    this.flushTimer = setInterval(() => this.flush(), this.opts.flushMs);
    this.retentionTimer = setInterval(() => {
      const { byAge, bySize } = this.store.enforceRetention();
      if (byAge || bySize) this.log(`history retention removed ${byAge} flows by age and ${bySize} by size`);
    }, this.opts.retentionCheckMs);
  }

  flush(): void {
    try {
      this.ingested += this.store.flush();
    } catch (err) {
      this.log(`writing flow history to ${this.store.file} failed (${(err as Error).message}); check the volume's free space`);
    }
  }

  private follow(peer: Peer): void {
    const stream = new PeerStream(
      peer,
      { follow: true, since: usToTimestamp(this.sinceUs) },
      { follow: true, dedupe: this.dedupe, resumeWindowUs: this.opts.resumeWindowUs, probeDeadlineMs: 2000, wantNodeNames: true },
      {
        flow: (p, framed, s) => this.store.append(s.timeUs, scannedUuid(framed, s), s.nodeName || p.name, framed.subarray(5)),
        event: () => {},
        status: () => {},
        done: () => {},
      },
    );
    this.streams.set(peer, stream);
    stream.start();
  }

  private unfollow(peer: Peer): void {
    this.streams.get(peer)?.stop();
    this.streams.delete(peer);
  }

  stop(): void {
    this.peers.off("added", this.onAdded);
    this.peers.off("removed", this.onRemoved);
    for (const s of this.streams.values()) s.stop();
    this.streams.clear();
    clearInterval(this.flushTimer);
    clearInterval(this.retentionTimer);
    this.flush();
  }
}
