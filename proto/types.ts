// TypeScript shapes of the proto messages as proto/load.ts decodes them
// (snake_case, enums as strings, 64-bit integers as numbers). Only the parts
// Flowlens uses are typed; every field is optional on the wire.

export interface Timestamp { seconds: number; nanos: number }

export type Verdict = "VERDICT_UNKNOWN" | "FORWARDED" | "DROPPED" | "ERROR" | "AUDIT" | "REDIRECTED" | "TRACED" | "TRANSLATED";
export type TrafficDirection = "TRAFFIC_DIRECTION_UNKNOWN" | "INGRESS" | "EGRESS";
export type IPVersion = "IP_NOT_USED" | "IPv4" | "IPv6";
export type FlowType = "UNKNOWN_TYPE" | "L3_L4" | "L7" | "SOCK";
export type NodeState = "UNKNOWN_NODE_STATE" | "NODE_CONNECTED" | "NODE_UNAVAILABLE" | "NODE_GONE" | "NODE_ERROR";
export type LostEventSource = "UNKNOWN_LOST_EVENT_SOURCE" | "PERF_EVENT_RING_BUFFER" | "OBSERVER_EVENTS_QUEUE" | "HUBBLE_RING_BUFFER";

export interface TCPFlags { FIN?: boolean; SYN?: boolean; RST?: boolean; PSH?: boolean; ACK?: boolean; URG?: boolean; ECE?: boolean; CWR?: boolean; NS?: boolean }
export interface Workload { name?: string; kind?: string }
export interface Endpoint { ID?: number; identity?: number; namespace?: string; labels?: string[]; pod_name?: string; workloads?: Workload[] }
export interface Service { name?: string; namespace?: string }
export interface IP { source?: string; destination?: string; ipVersion?: IPVersion; encrypted?: boolean; source_xlated?: string }
export interface Ports { source_port?: number; destination_port?: number }
export interface Layer4 {
  protocol?: "TCP" | "UDP" | "ICMPv4" | "ICMPv6" | "SCTP";
  TCP?: Ports & { flags?: TCPFlags };
  UDP?: Ports;
  SCTP?: Ports;
  ICMPv4?: { type?: number; code?: number };
  ICMPv6?: { type?: number; code?: number };
}

/** Flowlens' extension (field 50000), skipped by Hubble clients. */
export interface FlowStats {
  packets?: number;
  bytes?: number;
  bytes_sent?: number;
  bytes_received?: number;
  srtt_us?: number;
  retransmits?: number;
  connect_latency_ns?: number;
  kernel_drop_reason?: string;
  event?: string;
  first_seen?: Timestamp;
  last_seen?: Timestamp;
  source_xlated?: string;
}

export interface Flow {
  time?: Timestamp;
  uuid?: string;
  verdict?: Verdict;
  drop_reason?: number;
  drop_reason_desc?: string;
  IP?: IP;
  l4?: Layer4;
  source?: Endpoint;
  destination?: Endpoint;
  Type?: FlowType;
  node_name?: string;
  source_names?: string[];
  destination_names?: string[];
  reply?: boolean;
  is_reply?: { value: boolean };
  event_type?: { type?: number; sub_type?: number };
  source_service?: Service;
  destination_service?: Service;
  traffic_direction?: TrafficDirection;
  interface?: { index?: number; name?: string };
  socket_cookie?: number;
  cgroup_id?: number;
  flowlens?: FlowStats;
}

export interface FlowFilter {
  uuid?: string[];
  source_ip?: string[];
  source_pod?: string[];
  source_label?: string[];
  source_service?: string[];
  source_workload?: Workload[];
  destination_ip?: string[];
  destination_pod?: string[];
  destination_label?: string[];
  destination_service?: string[];
  destination_workload?: Workload[];
  traffic_direction?: TrafficDirection[];
  verdict?: Verdict[];
  protocol?: string[];
  source_port?: string[];
  destination_port?: string[];
  reply?: boolean[];
  tcp_flags?: TCPFlags[];
  node_name?: string[];
  ip_version?: IPVersion[];
}

export interface GetFlowsRequest {
  number?: number;
  first?: boolean;
  follow?: boolean;
  blacklist?: FlowFilter[];
  whitelist?: FlowFilter[];
  since?: Timestamp;
  until?: Timestamp;
}

export interface NodeStatusEvent { state_change?: NodeState; node_names?: string[]; message?: string }
export interface LostEvent { source?: LostEventSource; num_events_lost?: number; cpu?: { value: number } }

export interface GetFlowsResponse {
  response_types?: "flow" | "node_status" | "lost_events";
  flow?: Flow;
  node_status?: NodeStatusEvent;
  lost_events?: LostEvent;
  node_name?: string;
  time?: Timestamp;
}

export interface ServerStatusResponse {
  num_flows?: number;
  max_flows?: number;
  seen_flows?: number;
  uptime_ns?: number;
  num_connected_nodes?: { value: number };
  num_unavailable_nodes?: { value: number };
  unavailable_nodes?: string[];
  version?: string;
  flows_rate?: number;
}

export interface Node {
  name?: string;
  version?: string;
  address?: string;
  state?: NodeState;
  tls?: { enabled?: boolean; server_name?: string };
  uptime_ns?: number;
  num_flows?: number;
  max_flows?: number;
  seen_flows?: number;
}

export interface GetNodesResponse { nodes?: Node[] }

/** Converts between wall-clock nanoseconds / Date and proto Timestamps. */
export function timestampFromNanos(ns: bigint): Timestamp {
  return { seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) };
}
export function timestampToMillis(ts: Timestamp | undefined): number {
  return ts ? ts.seconds * 1000 + Math.floor(ts.nanos / 1e6) : 0;
}
export function timestampFromMillis(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}
