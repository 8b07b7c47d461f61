// One peer's part of a relay GetFlows call. It announces the peer as
// CONNECTED / UNAVAILABLE (only on change), and for followed streams it
// reconnects with backoff when the peer fails, resuming with `since` = last
// seen flow time minus a small window; each attempt is checked against the
// uuids delivered from its `since` on (RecentUuids, shared by the call), so
// nothing still in the agent's ring is lost or doubled.
import * as grpc from "@grpc/grpc-js";
import type { GetFlowsRequest, NodeState } from "../proto/types";
import type { FlowStream } from "./http2-flow-client";
import type { Peer } from "./peer";
import { NO_GUARD, type RecentUuids } from "./recent-uuids";
import { scanResponse, usToTimestamp, timestampToUs, type ScannedResponse } from "./wire";

export interface PeerStreamSink {
  /** `framed`: the GetFlowsResponse as received, in its gRPC frame (5-byte prefix). */
  flow(peer: Peer, framed: Buffer, scanned: ScannedResponse): void;
  /** node_status and lost_events from the upstream, forwarded as they are. */
  event(peer: Peer, data: Buffer, scanned: ScannedResponse): void;
  status(peer: Peer, state: NodeState, message: string): void;
  /** A finite stream finished (completely, or because the peer is unavailable). */
  done(peer: Peer): void;
}

export interface PeerStreamOptions {
  follow: boolean;
  dedupe: RecentUuids;
  resumeWindowUs: number;
  probeDeadlineMs: number;
  /** The sink needs each flow's node name (history rows); otherwise it is read only until the peer's name is known. */
  wantNodeNames?: boolean;
}

const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 2000;

export class PeerStream {
  lastSeenUs = 0;
  private stream?: FlowStream;
  private stopped = false;
  private paused = false;
  private finished = false;
  private announced?: NodeState;
  private backoffMs = MIN_BACKOFF_MS;
  private retryTimer?: NodeJS.Timeout;
  private startedAtUs = 0;
  private attempts = 0;
  private connecting = false;
  private guard = NO_GUARD;
  private readonly onPeerState = (state: NodeState) => this.peerStateChanged(state);

  constructor(readonly peer: Peer, private readonly base: GetFlowsRequest, private readonly opts: PeerStreamOptions, private readonly sink: PeerStreamSink) {}

  start(): void {
    this.startedAtUs = Date.now() * 1000;
    this.peer.on("state", this.onPeerState);
    void this.connect();
  }

  pause(): void {
    this.paused = true;
    this.stream?.pause();
  }

  resume(): void {
    this.paused = false;
    this.stream?.resume();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.peer.off("state", this.onPeerState);
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
  }

  /** The request for this attempt: a resumed one starts from the last flow seen. */
  private request(): GetFlowsRequest {
    if (this.attempts === 0) return this.base;
    const floorUs = timestampToUs(this.base.since);
    const fromUs = this.lastSeenUs ? this.lastSeenUs - this.opts.resumeWindowUs : (floorUs || this.startedAtUs) - this.opts.resumeWindowUs;
    const { number: _n, first: _f, ...rest } = this.base;
    return { ...rest, since: usToTimestamp(Math.max(fromUs, floorUs)) };
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.connecting || this.stream) return;
    this.connecting = true;
    try {
      await this.open();
    } finally {
      this.connecting = false;
    }
  }

  private async open(): Promise<void> {
    // A cheap unary call first: it proves the peer answers (a stopped process
    // keeps its socket open) before the stream is (re)opened.
    try {
      await this.peer.serverStatus(this.opts.probeDeadlineMs);
    } catch (err) {
      this.failed((err as grpc.ServiceError).details ?? String(err));
      return;
    }
    if (this.stopped) return;
    this.announce("NODE_CONNECTED", "");
    const req = this.request();
    this.guard = this.opts.dedupe.guard(timestampToUs(req.since));
    const stream = this.peer.openFlows(req);
    this.attempts++;
    this.stream = stream;
    if (this.paused) stream.pause();
    // A replaced stream's buffered data is dropped: its successor resumes from before it (the resume
    // window), and the successor's seam guard was built before that data could be recorded.
    stream.on("data", (framed: Buffer) => {
      if (this.stream === stream) this.received(framed);
    });
    stream.on("error", (err: grpc.ServiceError) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.failed(err.details || err.message);
    });
    // grpc-js ends the stream on failures too: completion is an OK status plus the end of the data.
    let ended = false;
    let ok = false;
    const completed = () => {
      if (this.stream !== stream || !ended || !ok) return;
      this.stream = undefined;
      if (this.opts.follow) this.failed("the peer ended the stream");
      else this.finish();
    };
    stream.on("status", (st: grpc.StatusObject) => {
      ok = st.code === grpc.status.OK;
      completed();
    });
    stream.on("end", () => {
      ended = true;
      completed();
    });
  }

  private received(framed: Buffer): void {
    this.backoffMs = MIN_BACKOFF_MS;
    this.peer.lastDataMs = Date.now();
    const scanned = scanResponse(framed, this.opts.wantNodeNames === true || !this.peer.nameKnown, 5);
    if (scanned.kind !== "flow") {
      this.sink.event(this.peer, framed.subarray(5), scanned);
      return;
    }
    if (scanned.timeUs > this.lastSeenUs) this.lastSeenUs = scanned.timeUs;
    this.peer.observeNodeName(scanned.nodeName);
    if (!this.guard.admit(scanned.timeUs, framed, scanned.uuidStart, scanned.uuidEnd)) return;
    this.opts.dedupe.record(scanned.timeUs, framed, scanned.uuidStart, scanned.uuidEnd);
    this.sink.flow(this.peer, framed, scanned);
  }

  private failed(message: string): void {
    if (this.stopped || this.finished) return;
    this.announce("NODE_UNAVAILABLE", message);
    if (!this.opts.follow) {
      this.finish();
      return;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.peer.off("state", this.onPeerState);
    this.sink.done(this.peer);
  }

  private peerStateChanged(state: NodeState): void {
    if (this.stopped || this.finished) return;
    if (state === "NODE_UNAVAILABLE" && this.stream) {
      // The health check noticed first (e.g. a stopped process whose socket stays open).
      const s = this.stream;
      this.stream = undefined;
      s.cancel();
      this.failed(this.peer.lastError || "health check failed");
    } else if (state === "NODE_CONNECTED" && this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      void this.connect();
    }
  }

  private announce(state: NodeState, message: string): void {
    if (this.announced === state) return;
    this.announced = state;
    this.sink.status(this.peer, state, message);
  }
}
