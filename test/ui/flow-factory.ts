// Builds Flow messages the way the agent fills them, for the UI's tests and benchmarks.
import * as crypto from "node:crypto";
import type { Flow, Verdict } from "../../proto/types";
import { timestampFromMillis } from "../../proto/types";

export interface FlowSpec {
  src: { ns: string; pod: string; ip: string; workload?: string };
  dst: { ns: string; pod: string; ip: string; workload?: string };
  dport: number;
  sport?: number;
  protocol?: "TCP" | "UDP";
  verdict?: Verdict;
  bytes?: number;
  srttUs?: number;
  timeMs?: number;
  node?: string;
}

export function makeFlow(s: FlowSpec): Flow {
  const ports = { source_port: s.sport ?? 40000 + Math.floor(Math.random() * 20000), destination_port: s.dport };
  const protocol = s.protocol ?? "TCP";
  const dropped = s.verdict === "DROPPED";
  return {
    time: timestampFromMillis(s.timeMs ?? Date.now()),
    uuid: crypto.randomUUID(),
    verdict: s.verdict ?? "FORWARDED",
    drop_reason_desc: dropped ? ("POLICY_DENIED" as never) : undefined,
    IP: { source: s.src.ip, destination: s.dst.ip, ipVersion: "IPv4" },
    l4: protocol === "TCP" ? { TCP: { ...ports, flags: { SYN: true } } } : { UDP: ports },
    source: {
      namespace: s.src.ns,
      pod_name: s.src.pod,
      labels: [`app=${s.src.workload ?? s.src.pod}`],
      workloads: s.src.workload ? [{ name: s.src.workload, kind: "Deployment" }] : [],
    },
    destination: {
      namespace: s.dst.ns,
      pod_name: s.dst.pod,
      labels: [`app=${s.dst.workload ?? s.dst.pod}`],
      workloads: s.dst.workload ? [{ name: s.dst.workload, kind: "Deployment" }] : [],
    },
    Type: "L3_L4",
    node_name: s.node ?? "node-a",
    traffic_direction: "EGRESS",
    is_reply: { value: false },
    flowlens: { event: dropped ? "drop" : "flow_start", bytes: s.bytes ?? 0, packets: 1, srtt_us: s.srttUs ?? 0, kernel_drop_reason: dropped ? "NETFILTER_DROP" : "" },
  };
}
