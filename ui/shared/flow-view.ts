// How the UI reads a Flow: which workload each side belongs to, its ports,
// and the query the flow table filters by. Shared by the server (which
// filters before sending) and the page (which renders), so both agree.
import type { Endpoint, Flow } from "../../proto/types";

/** Namespace given to endpoints with no Kubernetes identity (outside the cluster). */
export const EXTERNAL_NAMESPACE = "(external)";
/** Namespace given to endpoints a user's namespace allow-list hides. */
export const HIDDEN_NAMESPACE = "(not permitted)";

export interface WorkloadRef {
  id: string;
  namespace: string;
  name: string;
  kind: string;
}

/** The flow table filters; an empty field matches everything. */
export interface FlowQuery {
  namespace?: string;
  pod?: string;
  verdict?: string;
  protocol?: string;
  port?: number;
  text?: string;
}

export const QUERY_FIELDS = ["namespace", "pod", "verdict", "protocol", "port", "text"] as const;

// Pod names from Deployments end in "-<replicaset hash>-<pod hash>"; a
// StatefulSet's in "-<ordinal>". Used only when the agent sent no workload.
const DEPLOYMENT_POD = /^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/;
const STATEFUL_POD = /^(.+)-\d+$/;

export function workloadOf(ep: Endpoint | undefined, ip: string | undefined): WorkloadRef {
  const namespace = ep?.namespace ?? "";
  if (!namespace) {
    const name = ip || "unknown";
    return { id: `${EXTERNAL_NAMESPACE}/${name}`, namespace: EXTERNAL_NAMESPACE, name, kind: "External" };
  }
  const declared = ep?.workloads?.[0];
  if (declared?.name) {
    return { id: `${namespace}/${declared.name}`, namespace, name: declared.name, kind: declared.kind || "Workload" };
  }
  const pod = ep?.pod_name ?? "";
  const name = pod.match(DEPLOYMENT_POD)?.[1] ?? pod.match(STATEFUL_POD)?.[1] ?? (pod || ip || "unknown");
  return { id: `${namespace}/${name}`, namespace, name, kind: pod ? "Pod" : "Endpoint" };
}

export interface FlowSides {
  source: WorkloadRef;
  destination: WorkloadRef;
  sourcePort?: number;
  destinationPort?: number;
}

export function ports(flow: Flow): { source?: number; destination?: number } {
  const l4 = flow.l4;
  const p = l4?.TCP ?? l4?.UDP ?? l4?.SCTP;
  return { source: p?.source_port, destination: p?.destination_port };
}

export function protocolOf(flow: Flow): string {
  const l4 = flow.l4;
  if (!l4) return "";
  if (l4.TCP) return "TCP";
  if (l4.UDP) return "UDP";
  if (l4.SCTP) return "SCTP";
  if (l4.ICMPv4) return "ICMPv4";
  if (l4.ICMPv6) return "ICMPv6";
  return l4.protocol ?? "";
}

// Linux hands out ephemeral (client) ports from 32768 up by default.
const FIRST_EPHEMERAL_PORT = 32768;

/**
 * Whether the flow's source is the answering side. When the observer could
 * not tell (a connection seen mid-way), a service port talking to an
 * ephemeral port is taken as a reply, as Hubble UI does.
 */
export function isReply(flow: Flow): boolean {
  const known = flow.is_reply?.value ?? flow.reply;
  if (known !== undefined) return known;
  const p = ports(flow);
  return p.source !== undefined && p.destination !== undefined && p.source > 0 && p.source < FIRST_EPHEMERAL_PORT && p.destination >= FIRST_EPHEMERAL_PORT;
}

/**
 * The flow's direction as the service map draws it: replies are turned
 * around, so a connection's both directions land on one client -> server edge.
 */
export function serviceDirection(flow: Flow): FlowSides {
  const src = workloadOf(flow.source, flow.IP?.source);
  const dst = workloadOf(flow.destination, flow.IP?.destination);
  const p = ports(flow);
  if (isReply(flow)) return { source: dst, destination: src, sourcePort: p.destination, destinationPort: p.source };
  return { source: src, destination: dst, sourcePort: p.source, destinationPort: p.destination };
}

export function podLabel(ep: Endpoint | undefined, ip: string | undefined): string {
  if (ep?.namespace && ep.pod_name) return `${ep.namespace}/${ep.pod_name}`;
  if (ep?.namespace) return `${ep.namespace}/${ip ?? "?"}`;
  return ip ?? "?";
}

function searchableText(flow: Flow): string {
  const p = ports(flow);
  return [
    podLabel(flow.source, flow.IP?.source),
    podLabel(flow.destination, flow.IP?.destination),
    flow.IP?.source,
    flow.IP?.destination,
    flow.verdict,
    flow.drop_reason_desc,
    flow.flowlens?.kernel_drop_reason,
    flow.flowlens?.event,
    protocolOf(flow),
    p.source,
    p.destination,
    flow.node_name,
    flow.traffic_direction,
    ...(flow.source?.labels ?? []),
    ...(flow.destination?.labels ?? []),
    flow.source_service?.name,
    flow.destination_service?.name,
  ]
    .filter((v) => v !== undefined && v !== "")
    .join(" ")
    .toLowerCase();
}

export function matchesQuery(flow: Flow, q: FlowQuery): boolean {
  if (q.namespace && flow.source?.namespace !== q.namespace && flow.destination?.namespace !== q.namespace) return false;
  if (q.verdict && flow.verdict !== q.verdict) return false;
  if (q.protocol && protocolOf(flow).toLowerCase() !== q.protocol.toLowerCase()) return false;
  if (q.port !== undefined) {
    const p = ports(flow);
    if (p.source !== q.port && p.destination !== q.port) return false;
  }
  if (q.pod) {
    const needle = q.pod.toLowerCase();
    const src = podLabel(flow.source, flow.IP?.source).toLowerCase();
    const dst = podLabel(flow.destination, flow.IP?.destination).toLowerCase();
    if (!src.includes(needle) && !dst.includes(needle)) return false;
  }
  if (q.text && !searchableText(flow).includes(q.text.toLowerCase())) return false;
  return true;
}

/** Reads a FlowQuery from URL search parameters; returns an error message for a bad port. */
export function queryFromParams(params: URLSearchParams): FlowQuery | string {
  const q: FlowQuery = {};
  for (const field of ["namespace", "pod", "verdict", "protocol", "text"] as const) {
    const v = params.get(field)?.trim();
    if (v) q[field] = v;
  }
  const port = params.get("port")?.trim();
  if (port) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 0 || n > 65535) return `port "${port}" is not a number between 0 and 65535`;
    q.port = n;
  }
  return q;
}

export function queryToParams(q: FlowQuery): URLSearchParams {
  const params = new URLSearchParams();
  for (const field of QUERY_FIELDS) {
    const v = q[field];
    if (v !== undefined && v !== "") params.set(field, String(v));
  }
  return params;
}
