// GetFlows on the relay. A call runs up to three phases, each resuming where
// the previous one stopped (shared uuid de-duplication makes the seams exact):
//   1. history: since/until answered from the store, in time order;
//   2. backlog: a finite request to every peer, merged exactly (k-way merge of
//      the peers' time-ordered streams), from where history stopped;
//   3. follow: live streams from every peer, merged through the sort window,
//      with peers that come and go picked up on the way.
// Filters are compiled here (bad ones fail with INVALID_ARGUMENT) and pushed
// down to the peers unchanged.
import * as grpc from "@grpc/grpc-js";
import { compileFlowFilters, FlowFilterError, type FlowPredicate } from "../agent/flows/filter";
import type { GetFlowsRequest, GetFlowsResponse, NodeState } from "../proto/types";
import type { FlowHistory } from "./history/store";
import type { Peer } from "./peer";
import type { PeerSet } from "./peer-set";
import { PeerStream, type PeerStreamSink } from "./peer-stream";
import { RecentUuids } from "./recent-uuids";
import { SortWindow } from "./sort-window";
import { FramedWriter } from "./framed-writer";
import { decodeFlow, encodeResponse, frame, timestampToUs, usToTimestamp } from "./wire";

export interface GetFlowsContext {
  peers: PeerSet;
  history?: FlowHistory;
  sortWindowMs: number;
  sortWindowMaxItems: number;
  resumeWindowUs: number;
}

type Call = grpc.ServerWritableStream<GetFlowsRequest, Buffer>;

/** Writes to the client: flows either straight through, or into a last-N ring emitted at the end of the finite phases. */
class ResponseWriter {
  private ring: Buffer[] = [];
  private written = 0;
  lastTimeUs = 0;
  readonly keepLast: number;
  readonly limitFirst: number;
  private drainWaiters: (() => void)[] = [];
  private readonly out: FramedWriter;

  constructor(call: Call, req: GetFlowsRequest, private readonly onBackpressure: (paused: boolean) => void) {
    const n = req.number ?? 0;
    this.keepLast = n > 0 && !req.first ? n : 0;
    this.limitFirst = n > 0 && req.first ? n : 0;
    this.out = new FramedWriter(call, () => {
      this.onBackpressure(false);
      for (const w of this.drainWaiters.splice(0)) w();
    });
  }

  get full(): boolean {
    return this.limitFirst > 0 && this.written >= this.limitFirst;
  }

  /** `framed`: a flow's GetFlowsResponse in its gRPC frame, forwarded as it is. */
  flow(framed: Buffer, timeUs: number, finitePhase: boolean): void {
    if (timeUs > this.lastTimeUs) this.lastTimeUs = timeUs;
    if (finitePhase && this.keepLast) {
      this.ring.push(framed);
      if (this.ring.length > this.keepLast * 2) this.ring = this.ring.slice(-this.keepLast);
      return;
    }
    if (this.full) return;
    this.written++;
    this.backpressure(this.out.writeFramed(framed));
  }

  event(message: Buffer): void {
    this.backpressure(this.out.write(message));
  }

  flush(): void {
    this.out.flush();
  }

  /** Emits the last-N ring once the finite phases are over. */
  flushLast(): void {
    for (const framed of this.ring.slice(-this.keepLast)) this.backpressure(this.out.writeFramed(framed));
    this.ring = [];
  }

  waitForDrain(): Promise<void> {
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  needsDrain = false;

  private backpressure(accepted: boolean): void {
    if (!accepted && !this.needsDrain) {
      this.needsDrain = true;
      this.onBackpressure(true);
      void this.waitForDrain().then(() => (this.needsDrain = false));
    }
  }
}

function statusEvent(peer: Peer, state: NodeState, message: string): GetFlowsResponse {
  return { node_status: { state_change: state, node_names: [peer.name], message }, node_name: peer.name, time: usToTimestamp(Date.now() * 1000) };
}

export async function serveGetFlows(call: Call, ctx: GetFlowsContext): Promise<void> {
  const req = call.request ?? {};
  let predicate: FlowPredicate;
  try {
    predicate = compileFlowFilters(req.whitelist ?? [], req.blacklist ?? []);
  } catch (err) {
    const details = err instanceof FlowFilterError ? err.message : String(err);
    call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details });
    return;
  }
  const active = new Set<PeerStream>();
  let cancelled = false;
  const writer = new ResponseWriter(call, req, (paused) => active.forEach((s) => (paused ? s.pause() : s.resume())));
  // The newest 262,144 delivered uuids (10 MiB at most): at high rates this count, not the resume window, bounds how far back a seam is exact.
  const dedupe = new RecentUuids(1 << 18);
  const cleanups: (() => void)[] = [];
  const stopAll = () => {
    cancelled = true;
    active.forEach((s) => s.stop());
    cleanups.splice(0).forEach((c) => c());
  };
  call.on("cancelled", stopAll);
  const sinceUs = timestampToUs(req.since);
  const untilUs = timestampToUs(req.until);
  const filters = { whitelist: req.whitelist ?? [], blacklist: req.blacklist ?? [] };

  try {
    // 1. history
    let resumeUs = sinceUs;
    if (ctx.history && sinceUs) {
      ctx.history.flush();
      for (const page of ctx.history.pages(sinceUs, untilUs || Number.MAX_SAFE_INTEGER)) {
        for (const row of page) {
          const flow = decodeFlow(row.data);
          if (!flow || !predicate(flow)) continue;
          dedupe.recordUuid(row.timeUs, row.uuid);
          writer.flow(frame(row.data), row.timeUs, true);
        }
        if (writer.full) break;
        if (writer.needsDrain) await writer.waitForDrain();
        await new Promise((r) => setImmediate(r));
        if (cancelled) return;
      }
      if (writer.lastTimeUs) resumeUs = Math.max(sinceUs, writer.lastTimeUs - ctx.resumeWindowUs);
    }
    // 2. backlog from the peers' rings
    if ((sinceUs || (req.number ?? 0) > 0) && !writer.full) {
      const backlog: GetFlowsRequest = { ...filters, follow: false };
      if (resumeUs) backlog.since = usToTimestamp(resumeUs);
      if (untilUs) backlog.until = req.until;
      if (!sinceUs) {
        backlog.number = req.number;
        backlog.first = req.first;
      }
      await mergeBacklog(ctx, backlog, dedupe, writer, active, () => cancelled);
      if (cancelled) return;
    }
    writer.flushLast();
    // 3. follow
    if (req.follow && !untilUs && !writer.full) {
      // After a since query every flow from `since` on went through `dedupe`, so
      // the follow streams may overlap by the resume window and still emit each
      // flow once; after --last N only the flows from the last one on are new.
      const followSinceUs = sinceUs ? Math.max(sinceUs, writer.lastTimeUs - ctx.resumeWindowUs) : writer.lastTimeUs;
      const follow: GetFlowsRequest = { ...filters, follow: true };
      if (followSinceUs) follow.since = usToTimestamp(followSinceUs);
      await followPeers(ctx, follow, dedupe, writer, active, cleanups, () => cancelled);
    }
  } finally {
    stopAll();
  }
  writer.flush();
  if (!call.cancelled) call.end();
}

function sinkFor(writer: ResponseWriter, onFlow: (peer: Peer, framed: Buffer, timeUs: number) => void, onDone: (peer: Peer) => void): PeerStreamSink {
  return {
    flow: (peer, framed, s) => onFlow(peer, framed, s.timeUs),
    event: (_peer, data) => writer.event(data),
    status: (peer, state, message) => writer.event(encodeResponse(statusEvent(peer, state, message))),
    done: onDone,
  };
}

interface Queue {
  items: { timeUs: number; framed: Buffer }[];
  head: number;
  done: boolean;
  stream?: PeerStream;
}

const QUEUE_HIGH = 4096;
const QUEUE_LOW = 1024;

/** Exact merge of finite, time-ordered peer streams: a flow is emitted once every unfinished peer has one queued. */
function mergeBacklog(ctx: GetFlowsContext, req: GetFlowsRequest, dedupe: RecentUuids, writer: ResponseWriter, active: Set<PeerStream>, isCancelled: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const queues = new Map<Peer, Queue>();
    let resolved = false;
    const finish = () => {
      if (resolved) return;
      resolved = true;
      for (const q of queues.values()) if (q.stream) active.delete(q.stream);
      resolve();
    };
    const pump = () => {
      if (resolved) return;
      if (isCancelled() || writer.full) {
        for (const q of queues.values()) q.stream?.stop();
        return finish();
      }
      for (;;) {
        let min: Queue | undefined;
        for (const q of queues.values()) {
          if (q.head < q.items.length) {
            if (!min || q.items[q.head].timeUs < min.items[min.head].timeUs) min = q;
          } else if (!q.done) return;
        }
        if (!min) return finish();
        const item = min.items[min.head++];
        writer.flow(item.framed, item.timeUs, true);
        if (min.head > 1024 && min.head * 2 > min.items.length) {
          min.items = min.items.slice(min.head);
          min.head = 0;
        }
        if (min.items.length - min.head === QUEUE_LOW) min.stream?.resume();
        if (writer.full) return pump();
      }
    };
    const peers = ctx.peers.list();
    if (!peers.length) return finish();
    for (const peer of peers) queues.set(peer, { items: [], head: 0, done: false });
    for (const peer of peers) {
      const q = queues.get(peer)!;
      const sink = sinkFor(
        writer,
        (_p, framed, timeUs) => {
          q.items.push({ timeUs, framed });
          if (q.items.length - q.head > QUEUE_HIGH) q.stream?.pause();
          pump();
        },
        () => {
          q.done = true;
          pump();
        },
      );
      q.stream = new PeerStream(peer, req, { follow: false, dedupe, resumeWindowUs: ctx.resumeWindowUs, probeDeadlineMs: 2000 }, sink);
      active.add(q.stream);
    }
    for (const q of queues.values()) q.stream!.start();
  });
}

/** Live merge through the sort window until the client goes away. */
function followPeers(
  ctx: GetFlowsContext,
  req: GetFlowsRequest,
  dedupe: RecentUuids,
  writer: ResponseWriter,
  active: Set<PeerStream>,
  cleanups: (() => void)[],
  isCancelled: () => boolean,
): Promise<void> {
  return new Promise((resolve) => {
    if (isCancelled()) return resolve();
    const window = new SortWindow(ctx.sortWindowMs, ctx.sortWindowMaxItems, (timeUs, framed) => writer.flow(framed, timeUs, false));
    const streams = new Map<Peer, PeerStream>();
    const sink = sinkFor(writer, (peer, framed, timeUs) => window.push(peer, timeUs, framed, Date.now()), () => {});
    const add = (peer: Peer, since = req.since) => {
      const s = new PeerStream(peer, { ...req, since }, { follow: true, dedupe, resumeWindowUs: ctx.resumeWindowUs, probeDeadlineMs: 2000 }, sink);
      streams.set(peer, s);
      active.add(s);
      if (writer.needsDrain) s.pause();
      s.start();
    };
    const onAdded = (peer: Peer) => add(peer, usToTimestamp(Date.now() * 1000 - ctx.resumeWindowUs));
    const onRemoved = (peer: Peer) => {
      const s = streams.get(peer);
      if (!s) return;
      s.stop();
      active.delete(s);
      streams.delete(peer);
      writer.event(encodeResponse(statusEvent(peer, "NODE_GONE", "the peer left discovery")));
    };
    // While the client is behind, flows stay in the (bounded) window rather than piling up in write buffers.
    const timer = setInterval(() => writer.needsDrain || window.drain(Date.now()), Math.max(5, Math.floor(ctx.sortWindowMs / 10)));
    ctx.peers.on("added", onAdded);
    ctx.peers.on("removed", onRemoved);
    cleanups.push(() => {
      clearInterval(timer);
      ctx.peers.off("added", onAdded);
      ctx.peers.off("removed", onRemoved);
      resolve();
    });
    for (const peer of ctx.peers.list()) add(peer);
  });
}
