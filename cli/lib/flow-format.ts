// Printing GetFlows responses: compact (one line per flow), table (aligned
// columns) and json (one object per line, Hubble's shape with RFC 3339 times).
// compact and table carry Flowlens' byte and RTT columns.
import type { Endpoint, Flow, GetFlowsResponse, Timestamp } from "../../proto/types";

export type OutputFormat = "compact" | "json" | "table";
export const OUTPUT_FORMATS: OutputFormat[] = ["compact", "json", "table"];

export function rfc3339(ts: Timestamp | undefined): string {
  if (!ts) return "";
  const iso = new Date(ts.seconds * 1000).toISOString().slice(0, 19);
  return `${iso}.${String(ts.nanos ?? 0).padStart(9, "0")}Z`;
}

function shortTime(ts: Timestamp | undefined): string {
  if (!ts) return "-";
  const d = new Date(ts.seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
  const month = d.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  return `${month} ${String(d.getUTCDate()).padStart(2, " ")} ${d.toISOString().slice(11, 23)}`;
}

function ports(flow: Flow): { src?: number; dst?: number } {
  const l4 = flow.l4;
  const p = l4?.TCP ?? l4?.UDP ?? l4?.SCTP;
  return { src: p?.source_port, dst: p?.destination_port };
}

function endpointName(ep: Endpoint | undefined, ip: string | undefined, port: number | undefined): string {
  const who = ep?.pod_name ? `${ep.namespace ? `${ep.namespace}/` : ""}${ep.pod_name}` : ip ?? "?";
  return port ? `${who}:${port}` : who;
}

/** The source as it left the node after egress NAT, when the agent saw the translation. */
function withXlated(source: string, xlated: string | undefined): string {
  return xlated ? `${source} -> ${xlated}` : source;
}

function protocolName(flow: Flow): string {
  const l4 = flow.l4;
  if (!l4) return "-";
  if (l4.TCP) return "TCP";
  if (l4.UDP) return "UDP";
  if (l4.SCTP) return "SCTP";
  if (l4.ICMPv4) return "ICMPv4";
  if (l4.ICMPv6) return "ICMPv6";
  return l4.protocol ?? "-";
}

function tcpFlags(flow: Flow): string {
  const f = flow.l4?.TCP?.flags;
  if (!f) return "";
  return Object.entries(f).filter(([, on]) => on).map(([k]) => k).join(",");
}

export function humanBytes(n: number | undefined): string {
  if (n === undefined || n === null) return "-";
  if (n < 1000) return `${n}B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)}${units[i]}`;
}

export function humanRtt(us: number | undefined): string {
  if (!us) return "-";
  return us >= 1000 ? `${(us / 1000).toFixed(1)}ms` : `${us}µs`;
}

function verdictText(flow: Flow): string {
  const v = flow.verdict ?? "VERDICT_UNKNOWN";
  const reason = flow.flowlens?.kernel_drop_reason || (flow.drop_reason_desc && String(flow.drop_reason_desc));
  return v === "DROPPED" && reason ? `DROPPED (${reason})` : v;
}

interface Row {
  time: string;
  node: string;
  source: string;
  destination: string;
  direction: string;
  protocol: string;
  verdict: string;
  flags: string;
  bytes: string;
  rtt: string;
}

function flowRow(flow: Flow, nodeName: string | undefined): Row {
  const p = ports(flow);
  return {
    time: shortTime(flow.time),
    node: flow.node_name || nodeName || "-",
    source: withXlated(endpointName(flow.source, flow.IP?.source, p.src), flow.IP?.source_xlated),
    destination: endpointName(flow.destination, flow.IP?.destination, p.dst),
    direction: (flow.traffic_direction ?? "TRAFFIC_DIRECTION_UNKNOWN").replace("TRAFFIC_DIRECTION_UNKNOWN", "-").toLowerCase(),
    protocol: protocolName(flow),
    verdict: verdictText(flow),
    flags: tcpFlags(flow),
    bytes: humanBytes(flow.flowlens?.bytes),
    rtt: humanRtt(flow.flowlens?.srtt_us),
  };
}

/** Replaces Timestamps by RFC 3339 strings, as `hubble observe -o json` prints them. */
function jsonReady(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(jsonReady);
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length <= 2 && "seconds" in o && typeof o.seconds === "number") return rfc3339(o as unknown as Timestamp);
    return Object.fromEntries(keys.map((k) => [k, jsonReady(o[k])]));
  }
  return value;
}

const TABLE_COLUMNS: [keyof Row, string][] = [
  ["time", "TIMESTAMP"],
  ["node", "NODE"],
  ["source", "SOURCE"],
  ["destination", "DESTINATION"],
  ["direction", "DIRECTION"],
  ["protocol", "PROTO"],
  ["verdict", "VERDICT"],
  ["flags", "TCP FLAGS"],
  ["bytes", "BYTES"],
  ["rtt", "RTT"],
];

/**
 * Formats responses one at a time. The table is aligned in blocks: a header
 * and fixed widths that grow when a wider value arrives, so following a
 * stream never waits for the end.
 */
export class FlowPrinter {
  private widths = new Map<keyof Row, number>(TABLE_COLUMNS.map(([k, h]) => [k, h.length]));
  private printedHeader = false;

  constructor(private readonly format: OutputFormat, private readonly write: (line: string) => void) {}

  print(res: GetFlowsResponse): void {
    if (this.format === "json") {
      const { response_types: _kind, ...rest } = res;
      this.write(JSON.stringify(jsonReady(rest)));
      return;
    }
    if (res.node_status) {
      const s = res.node_status;
      this.write(`${shortTime(res.time)} [${(s.node_names ?? []).join(",")}] ${s.state_change ?? ""}${s.message ? `: ${s.message}` : ""}`);
      return;
    }
    if (res.lost_events) {
      this.write(`${shortTime(res.time)} [${res.node_name ?? "-"}] EVENTS LOST: ${res.lost_events.num_events_lost ?? 0} (${res.lost_events.source ?? "unknown source"})`);
      return;
    }
    if (!res.flow) return;
    const row = flowRow(res.flow, res.node_name);
    if (this.format === "compact") {
      // As `hubble observe` does, a reply is printed from the initiator's side with the arrow reversed.
      const reply = res.flow.is_reply?.value === true;
      const pair = reply ? `${row.destination} <- ${row.source}` : `${row.source} -> ${row.destination}`;
      const flags = row.flags ? ` ${row.flags}` : "";
      this.write(`${row.time} [${row.node}] ${pair} ${row.direction} ${row.protocol}${flags} ${row.verdict} bytes=${row.bytes} rtt=${row.rtt}`);
      return;
    }
    this.printTableRow(row);
  }

  private printTableRow(row: Row): void {
    let grew = false;
    for (const [k] of TABLE_COLUMNS) {
      if (row[k].length > this.widths.get(k)!) {
        this.widths.set(k, row[k].length);
        grew = true;
      }
    }
    const line = (cells: (k: keyof Row, h: string) => string) =>
      TABLE_COLUMNS.map(([k, h]) => cells(k, h).padEnd(this.widths.get(k)!)).join("  ").trimEnd();
    if (!this.printedHeader || grew) {
      this.write(line((_k, h) => h));
      this.printedHeader = true;
    }
    this.write(line((k) => row[k]));
  }
}
