// The node's Observer gRPC server (Hubble's API on :4244): GetFlows from the
// flow ring with filters and follow, ServerStatus and GetNodes for this node.
import * as grpc from "@grpc/grpc-js";
import { observerService } from "../../proto/load";
import type { GetFlowsRequest, GetFlowsResponse, GetNodesResponse, LostEvent, ServerStatusResponse, Timestamp } from "../../proto/types";
import { timestampFromMillis, timestampToMillis } from "../../proto/types";
import { compileFlowFilters, FlowFilterError, type FlowPredicate } from "../flows/filter";
import type { FlowRing, RingEvent } from "./flow-ring";

export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mTLS). */
  clientCa?: Buffer;
}

export interface ObserverServerOptions {
  ring: FlowRing;
  nodeName: string;
  version: string;
  /** Flows per second over the recent past, for ServerStatus. */
  flowsRate: () => number;
  tls?: ServerTls;
  /** Responses queued for one slow follower before newer flows are dropped and reported lost. @default 10000 */
  followerQueueLimit?: number;
  /** Told how many responses a slow follower missed. */
  onFollowerLoss?: (count: number) => void;
}

/** Turns ":4244" into an address grpc-js binds on every interface. */
export function bindAddress(listen: string): string {
  return listen.startsWith(":") ? `0.0.0.0${listen}` : listen;
}

export class ObserverServer {
  private readonly server = new grpc.Server();
  private readonly startedNs = process.hrtime.bigint();
  private address = "";

  constructor(private readonly options: ObserverServerOptions) {
    this.server.addService(observerService(), {
      GetFlows: (call: grpc.ServerWritableStream<GetFlowsRequest, GetFlowsResponse>) => this.getFlows(call),
      ServerStatus: (_call: grpc.ServerUnaryCall<unknown, ServerStatusResponse>, cb: grpc.sendUnaryData<ServerStatusResponse>) =>
        cb(null, this.status()),
      GetNodes: (_call: grpc.ServerUnaryCall<unknown, GetNodesResponse>, cb: grpc.sendUnaryData<GetNodesResponse>) => cb(null, this.nodes()),
    });
  }

  /** Binds and starts serving; resolves with the bound port. */
  listen(listenAddress: string): Promise<number> {
    const { tls } = this.options;
    const creds = tls
      ? grpc.ServerCredentials.createSsl(tls.clientCa ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], !!tls.clientCa)
      : grpc.ServerCredentials.createInsecure();
    const addr = bindAddress(listenAddress);
    return new Promise((resolve, reject) => {
      this.server.bindAsync(addr, creds, (err, port) => {
        if (err) return reject(new Error(`Observer server: cannot listen on ${listenAddress} (${err.message}); pick a free --listen-address`));
        this.address = addr.replace(/:\d+$/, `:${port}`);
        resolve(port);
      });
    });
  }

  /** Stops accepting calls; ends open streams after `graceMs`. */
  close(graceMs = 2000): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.server.forceShutdown(), graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private uptimeNs(): number {
    return Number(process.hrtime.bigint() - this.startedNs);
  }

  private status(): ServerStatusResponse {
    const { ring } = this.options;
    return {
      num_flows: ring.size,
      max_flows: ring.capacity,
      seen_flows: ring.seenFlows,
      uptime_ns: this.uptimeNs(),
      num_connected_nodes: { value: 1 },
      num_unavailable_nodes: { value: 0 },
      version: this.options.version,
      flows_rate: this.options.flowsRate(),
    };
  }

  private nodes(): GetNodesResponse {
    const { ring } = this.options;
    return {
      nodes: [
        {
          name: this.options.nodeName,
          version: this.options.version,
          address: this.address,
          state: "NODE_CONNECTED",
          tls: { enabled: !!this.options.tls },
          uptime_ns: this.uptimeNs(),
          num_flows: ring.size,
          max_flows: ring.capacity,
          seen_flows: ring.seenFlows,
        },
      ],
    };
  }

  private getFlows(call: grpc.ServerWritableStream<GetFlowsRequest, GetFlowsResponse>): void {
    const req = call.request;
    let predicate: FlowPredicate;
    try {
      predicate = compileFlowFilters(req.whitelist ?? [], req.blacklist ?? []);
    } catch (e) {
      const message = e instanceof FlowFilterError ? e.message : `invalid GetFlows request: ${(e as Error).message}`;
      call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: message });
      return;
    }
    const sinceMs = req.since ? timestampToMillis(req.since) : undefined;
    const untilMs = req.until ? timestampToMillis(req.until) : undefined;
    if (sinceMs !== undefined && untilMs !== undefined && untilMs < sinceMs) {
      call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: `invalid GetFlows request: until (${new Date(untilMs).toISOString()}) is before since (${new Date(sinceMs).toISOString()})` });
      return;
    }
    const number = req.number ?? 0;
    // since and until select by the flow's own time, the time it is sent with (and what a relay resumes and
    // de-duplicates by), in microseconds. A record can arrive well after its event (an agent that was
    // paused), so the ring's arrival order only bounds the scan: a flow is never newer than its arrival.
    const sinceUs = req.since ? timestampToMicros(req.since) : undefined;
    const untilUs = req.until ? timestampToMicros(req.until) : undefined;
    const inTime = (us: number) => (sinceUs === undefined || us >= sinceUs) && (untilUs === undefined || us <= untilUs);
    // Flows are built from ring entries on read, once per event and call. Lost-event notices are sent
    // whatever the filters: they mean the filtered view may be incomplete.
    const respond = (e: RingEvent): GetFlowsResponse | undefined => {
      if (e.lost) return inTime(e.timeMs * 1000) ? this.lostResponse(e.lost, e.timeMs) : undefined;
      // Arrived before `since`, so happened before it too: no Flow is built for it.
      if (sinceMs !== undefined && e.timeMs < sinceMs) return undefined;
      const flow = e.entry.flow;
      const time = flow.time ?? timestampFromMillis(e.timeMs);
      if (!inTime(timestampToMicros(time))) return undefined;
      return predicate(flow) ? { flow, node_name: this.options.nodeName, time } : undefined;
    };

    const history: GetFlowsResponse[] = [];
    const { ring } = this.options;
    const limit = number > 0 ? number : Infinity;
    if (req.first) {
      for (const e of ring.events()) {
        if (history.length >= limit) break;
        const r = respond(e);
        if (r) history.push(r);
      }
    } else if (number > 0 || sinceMs !== undefined || !req.follow) {
      for (const e of ring.eventsNewestFirst()) {
        if (history.length >= limit) break;
        if (sinceMs !== undefined && e.timeMs < sinceMs) break;
        const r = respond(e);
        if (r) history.push(r);
      }
      history.reverse();
    }
    for (const r of history) call.write(r);

    if (!req.follow || (untilMs !== undefined && untilMs <= Date.now())) {
      call.end();
      return;
    }
    this.follow(call, respond, untilMs);
  }

  private follow(call: grpc.ServerWritableStream<GetFlowsRequest, GetFlowsResponse>, respond: (e: RingEvent) => GetFlowsResponse | undefined, untilMs?: number): void {
    const queueLimit = this.options.followerQueueLimit ?? 10000;
    const queue: GetFlowsResponse[] = [];
    let writable = true;
    let dropped = 0;
    let done = false;

    const flush = () => {
      while (writable && queue.length > 0) writable = call.write(queue.shift()!);
      if (writable && dropped > 0) {
        this.options.onFollowerLoss?.(dropped);
        writable = call.write(this.lostResponse({ source: "OBSERVER_EVENTS_QUEUE", num_events_lost: dropped }, Date.now()));
        dropped = 0;
      }
    };
    const finish = () => {
      if (done) return;
      done = true;
      unsubscribe();
      clearTimeout(untilTimer);
      call.removeListener("drain", onDrain);
    };
    const onDrain = () => {
      writable = true;
      flush();
    };
    const unsubscribe = this.options.ring.subscribe((e) => {
      if (done) return;
      if (untilMs !== undefined && e.timeMs > untilMs) {
        finish();
        call.end();
        return;
      }
      const r = respond(e);
      if (!r) return;
      if (queue.length >= queueLimit) {
        dropped++;
        return;
      }
      queue.push(r);
      flush();
    });
    const untilTimer = untilMs !== undefined ? setTimeout(() => {
      finish();
      call.end();
    }, untilMs - Date.now()) : undefined;
    call.on("drain", onDrain);
    call.on("cancelled", finish);
    call.on("close", finish);
    call.on("error", finish);
  }

  private lostResponse(lost: LostEvent, timeMs: number): GetFlowsResponse {
    return { lost_events: lost, node_name: this.options.nodeName, time: timestampFromMillis(timeMs) };
  }
}

function timestampToMicros(t: Timestamp): number {
  return t.seconds * 1_000_000 + Math.floor(t.nanos / 1000);
}
