// `flowlens observe` filter flags -> Hubble FlowFilters. Semantics follow
// `hubble observe`: flags in one filter are AND'd; a flag without a side
// (--pod, -n, --ip, --label, --port) matches either side, which takes two
// filters (OR'd); `--not` negates the flag that follows it, moving it to the
// blacklist.
import * as net from "node:net";
import type { FlowFilter, TCPFlags, TrafficDirection, Verdict } from "../../proto/types";
import { compileFlowFilters, FlowFilterError } from "../../agent/flows/filter";
import { UsageError } from "./errors";
import type { FlagSpec, ParsedFlags } from "./flags";

export const FILTER_FLAGS: FlagSpec = {
  pod: { type: "string", multiple: true },
  namespace: { type: "string", short: "n", multiple: true },
  ip: { type: "string", multiple: true },
  label: { type: "string", short: "l", multiple: true },
  port: { type: "string", multiple: true },
  "from-pod": { type: "string", multiple: true },
  "to-pod": { type: "string", multiple: true },
  "from-ip": { type: "string", multiple: true },
  "to-ip": { type: "string", multiple: true },
  "from-label": { type: "string", multiple: true },
  "to-label": { type: "string", multiple: true },
  "from-namespace": { type: "string", multiple: true },
  "to-namespace": { type: "string", multiple: true },
  "from-port": { type: "string", multiple: true },
  "to-port": { type: "string", multiple: true },
  verdict: { type: "string", multiple: true },
  protocol: { type: "string", multiple: true },
  "tcp-flags": { type: "string", multiple: true },
  "traffic-direction": { type: "string", multiple: true },
  "node-name": { type: "string", multiple: true },
  not: { type: "boolean", multiple: true },
};

const VERDICTS: Verdict[] = ["FORWARDED", "DROPPED", "ERROR", "AUDIT", "REDIRECTED", "TRACED", "TRANSLATED"];
const PROTOCOLS = ["tcp", "udp", "icmp", "icmpv4", "icmpv6", "sctp"];
const TCP_FLAG_NAMES: (keyof TCPFlags)[] = ["SYN", "ACK", "FIN", "RST", "PSH", "URG", "ECE", "CWR", "NS"];

type Side = "source" | "destination";
type Criterion = { flag: string; value: string };

/** The set of criteria one polarity (match / --not) collects. */
interface Criteria {
  either: Criterion[];
  from: Criterion[];
  to: Criterion[];
  common: Criterion[];
}

const EITHER = new Set(["pod", "namespace", "ip", "label", "port"]);

export interface BuiltFilters {
  whitelist: FlowFilter[];
  blacklist: FlowFilter[];
}

/** Reads the filter flags in argv order so `--not` applies to the flag right after it. */
export function buildFilters(flags: ParsedFlags): BuiltFilters {
  const match: Criteria = { either: [], from: [], to: [], common: [] };
  const negated: Criteria = { either: [], from: [], to: [], common: [] };
  let negateNext = false;
  for (const token of flags.tokens) {
    if (token.kind !== "option") continue;
    if (token.name === "not") {
      negateNext = true;
      continue;
    }
    if (!(token.name in FILTER_FLAGS)) continue;
    const into = negateNext ? negated : match;
    negateNext = false;
    // Label selectors contain commas themselves ("a=b,c in (x,y)"): one flag, one selector.
    const values = token.name.endsWith("label") ? [token.value ?? ""] : (token.value ?? "").split(",");
    for (const value of values.map((s) => s.trim()).filter(Boolean)) {
      const c = { flag: token.name, value };
      if (EITHER.has(token.name)) into.either.push(c);
      else if (token.name.startsWith("from-")) into.from.push(c);
      else if (token.name.startsWith("to-")) into.to.push(c);
      else into.common.push(c);
    }
  }
  if (negateNext) throw new UsageError("--not must be followed by a filter flag, e.g. --not --verdict DROPPED");
  const built = { whitelist: toFilters(match), blacklist: toFilters(negated) };
  // The servers compile filters with the same module; checking here names the flag before anything is dialled.
  try {
    compileFlowFilters(built.whitelist, built.blacklist);
  } catch (err) {
    if (err instanceof FlowFilterError) throw new UsageError(`bad filter ${flagForField(err.field)} ${JSON.stringify(err.value)}: ${err.reason}`);
    throw err;
  }
  return built;
}

function toFilters(c: Criteria): FlowFilter[] {
  if (!c.either.length && !c.from.length && !c.to.length && !c.common.length) return [];
  const base: FlowFilter = {};
  for (const x of c.common) applyCommon(base, x);
  for (const x of c.from) applySided(base, "source", x.flag.slice("from-".length), x);
  for (const x of c.to) applySided(base, "destination", x.flag.slice("to-".length), x);
  if (!c.either.length) return [base];
  return (["source", "destination"] as Side[]).map((side) => {
    const f: FlowFilter = structuredClone(base);
    for (const x of c.either) applySided(f, side, x.flag, x);
    return f;
  });
}

function push<K extends keyof FlowFilter>(f: FlowFilter, key: K, value: NonNullable<FlowFilter[K]>[number]): void {
  const list = (f[key] ?? []) as unknown[];
  list.push(value);
  (f as Record<string, unknown>)[key] = list;
}

function applySided(f: FlowFilter, side: Side, kind: string, { flag, value }: Criterion): void {
  switch (kind) {
    case "pod":
      return push(f, `${side}_pod`, value.includes("/") ? value : `default/${value}`);
    case "namespace":
      if (value.includes("/")) throw new UsageError(`--${flag} "${value}" is not a namespace name; drop the "/" (use --pod ns/name for a pod)`);
      return push(f, `${side}_pod`, `${value}/`);
    case "ip":
      if (!isIpOrCidr(value)) throw new UsageError(`--${flag} "${value}" is not an IP address or CIDR; use e.g. 10.0.0.5 or 10.0.0.0/24`);
      return push(f, `${side}_ip`, value);
    case "label":
      return push(f, `${side}_label`, value);
    case "port":
      return push(f, `${side}_port`, checkPort(flag, value));
    default:
      throw new UsageError(`--${flag} is not a filter flag`);
  }
}

function applyCommon(f: FlowFilter, { flag, value }: Criterion): void {
  switch (flag) {
    case "verdict": {
      const v = value.toUpperCase() as Verdict;
      if (!VERDICTS.includes(v)) throw new UsageError(`--verdict "${value}" is not a verdict; use one of ${VERDICTS.join(", ")}`);
      return push(f, "verdict", v);
    }
    case "protocol": {
      const p = value.toLowerCase();
      if (!PROTOCOLS.includes(p)) throw new UsageError(`--protocol "${value}" is not supported; use one of ${PROTOCOLS.join(", ")}`);
      return push(f, "protocol", p);
    }
    case "tcp-flags": {
      const flagsSet: TCPFlags = {};
      for (const name of value.toUpperCase().split(/[|+]/)) {
        if (!TCP_FLAG_NAMES.includes(name as keyof TCPFlags)) throw new UsageError(`--tcp-flags "${value}": "${name}" is not a TCP flag; use ${TCP_FLAG_NAMES.join(", ")} (comma = any of, | = all of)`);
        flagsSet[name as keyof TCPFlags] = true;
      }
      return push(f, "tcp_flags", flagsSet);
    }
    case "traffic-direction": {
      const d = value.toUpperCase() as TrafficDirection;
      if (d !== "INGRESS" && d !== "EGRESS") throw new UsageError(`--traffic-direction "${value}" must be ingress or egress`);
      return push(f, "traffic_direction", d);
    }
    case "node-name":
      return push(f, "node_name", value);
    default:
      throw new UsageError(`--${flag} is not a filter flag`);
  }
}

function checkPort(flag: string, value: string): string {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new UsageError(`--${flag} "${value}" is not a port; use a number from 1 to 65535`);
  return value;
}

function isIpOrCidr(value: string): boolean {
  const [addr, bits, extra] = value.split("/");
  const family = net.isIP(addr);
  if (!family || extra !== undefined) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n >= 0 && n <= (family === 4 ? 32 : 128);
}

/** "whitelist[0].source_label[1]" -> "--from-label/--label", the flags that fill that field. */
function flagForField(field: string): string {
  const name = /\.([a-z_]+)/.exec(field)?.[1] ?? field;
  const sided = /^(source|destination)_(.+)$/.exec(name);
  if (!sided) return `--${name.replace(/_/g, "-")}`;
  const kind = sided[2];
  return `--${sided[1] === "source" ? "from" : "to"}-${kind}/--${kind}`;
}
