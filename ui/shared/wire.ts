// Messages between the UI server and the page (Server-Sent Events and JSON).
import type { Flow } from "../../proto/types";

export interface MapNode {
  /** "namespace/workload" */
  id: string;
  namespace: string;
  name: string;
  kind: string;
  /** Dropped flows from or to this workload in the window. */
  drops: number;
}

export interface MapEdge {
  /** "sourceId->targetId" */
  id: string;
  source: string;
  target: string;
  flowsPerSec: number;
  bytesPerSec: number;
  /** Mean smoothed RTT of the flows that reported one, in microseconds. */
  rttUs?: number;
  /** Dropped flows in the window. */
  drops: number;
  /** Destination ports seen, most frequent first (at most 5). */
  ports: number[];
}

export interface ServiceMap {
  nodes: MapNode[];
  edges: MapEdge[];
  /** Seconds the rates are averaged over. */
  windowSeconds: number;
}

export interface HeaderStatus {
  relay: "connected" | "connecting" | "unavailable";
  /** Why the relay is not connected, for the banner. */
  relayError?: string;
  /** Rate of flows this user may see. */
  flowsPerSec: number;
  nodesConnected: number;
  nodesTotal: number;
  unavailableNodes: string[];
}

/** One Server-Sent Event `batch` of the live stream. */
export interface LiveBatch {
  status: HeaderStatus;
  /** Sent on connect, then every second (every 3 s for maps of more than 1,000 edges). */
  map?: ServiceMap;
  /** New flows matching the query, oldest first. */
  flows: Flow[];
  /** Matching flows left out of this batch to keep the page responsive. */
  skipped: number;
}

/** The answer to GET /api/history. */
export interface HistoryAnswer {
  since: string;
  until: string;
  map: ServiceMap;
  /** The most recent matching flows of the window, oldest first. */
  flows: Flow[];
  /** All matching flows the relay returned for the window. */
  total: number;
}
