// Compiles Hubble FlowFilters into one predicate. Pure (no I/O), shared by the
// agent, the relay and the UI server so every component accepts and rejects
// exactly the same filters. Semantics follow Hubble: fields inside one filter
// are AND'd, filters in a list are OR'd, a flow passes when it matches any
// whitelist filter (or the whitelist is empty) and no blacklist filter.
import { BlockList, isIP } from "node:net";
import type { Flow, FlowFilter, TCPFlags, Endpoint, Service, Workload } from "../../proto/types";

/** A filter the caller sent is malformed; `field` is its path, e.g. `whitelist[0].source_ip[1]`. */
export class FlowFilterError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`invalid flow filter ${field} = ${JSON.stringify(value)}: ${reason}`);
    this.name = "FlowFilterError";
  }
}

export type FlowPredicate = (flow: Flow) => boolean;

const VERDICTS = ["VERDICT_UNKNOWN", "FORWARDED", "DROPPED", "ERROR", "AUDIT", "REDIRECTED", "TRACED", "TRANSLATED"];
const DIRECTIONS = ["TRAFFIC_DIRECTION_UNKNOWN", "INGRESS", "EGRESS"];
const IP_VERSIONS = ["IP_NOT_USED", "IPv4", "IPv6"];
const TCP_FLAG_NAMES = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"] as const;

/** Protocol names a filter may use, mapped to the Layer4 oneof they select. */
const PROTOCOLS: Record<string, keyof NonNullable<Flow["l4"]>> = {
  tcp: "TCP",
  udp: "UDP",
  sctp: "SCTP",
  icmp: "ICMPv4",
  icmpv4: "ICMPv4",
  icmpv6: "ICMPv6",
};

/** FlowFilter fields of Hubble's API that Flowlens' L3/L4 flows cannot match; rejected rather than ignored. */
const UNSUPPORTED_FIELDS = [
  "source_fqdn",
  "destination_fqdn",
  "event_type",
  "http_status_code",
  "dns_query",
  "source_identity",
  "destination_identity",
  "http_method",
  "http_path",
  "trace_id",
];

/** Compiles a whitelist and a blacklist; throws FlowFilterError naming the first bad field. */
export function compileFlowFilters(whitelist: FlowFilter[] = [], blacklist: FlowFilter[] = []): FlowPredicate {
  const allow = whitelist.map((f, i) => compileFilter(f, `whitelist[${i}]`));
  const deny = blacklist.map((f, i) => compileFilter(f, `blacklist[${i}]`));
  return (flow) => (allow.length === 0 || allow.some((p) => p(flow))) && !deny.some((p) => p(flow));
}

/** Compiles one FlowFilter: every non-empty field must match. */
export function compileFilter(filter: FlowFilter, where = "filter"): FlowPredicate {
  if (filter === null || typeof filter !== "object") {
    throw new FlowFilterError(where, filter, "a FlowFilter must be an object");
  }
  const raw = filter as Record<string, unknown>;
  for (const name of UNSUPPORTED_FIELDS) {
    const v = raw[name];
    if (Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null) {
      throw new FlowFilterError(`${where}.${name}`, v, "not supported: Flowlens observes L3/L4 flows only; remove this field");
    }
  }
  const parts: FlowPredicate[] = [];
  const add = <T>(name: keyof FlowFilter, build: (values: T[], field: string) => FlowPredicate) => {
    const values = raw[name];
    if (values === undefined || values === null) return;
    if (!Array.isArray(values)) throw new FlowFilterError(`${where}.${name}`, values, "must be a list");
    if (values.length > 0) parts.push(build(values as T[], `${where}.${name}`));
  };

  add<string>("uuid", (v, f) => stringSet(v, f, (flow) => flow.uuid));
  add<string>("source_ip", (v, f) => ipMatcher(v, f, (flow) => flow.IP?.source));
  add<string>("destination_ip", (v, f) => ipMatcher(v, f, (flow) => flow.IP?.destination));
  add<string>("source_pod", (v, f) => podMatcher(v, f, (flow) => flow.source));
  add<string>("destination_pod", (v, f) => podMatcher(v, f, (flow) => flow.destination));
  add<string>("source_label", (v, f) => labelMatcher(v, f, (flow) => flow.source));
  add<string>("destination_label", (v, f) => labelMatcher(v, f, (flow) => flow.destination));
  add<string>("source_service", (v, f) => serviceMatcher(v, f, (flow) => flow.source_service));
  add<string>("destination_service", (v, f) => serviceMatcher(v, f, (flow) => flow.destination_service));
  add<Workload>("source_workload", (v, f) => workloadMatcher(v, f, (flow) => flow.source));
  add<Workload>("destination_workload", (v, f) => workloadMatcher(v, f, (flow) => flow.destination));
  add<string>("traffic_direction", (v, f) => enumMatcher(v, f, DIRECTIONS, (flow) => flow.traffic_direction ?? "TRAFFIC_DIRECTION_UNKNOWN"));
  add<string>("verdict", (v, f) => enumMatcher(v, f, VERDICTS, (flow) => flow.verdict ?? "VERDICT_UNKNOWN"));
  add<string>("ip_version", (v, f) => enumMatcher(v, f, IP_VERSIONS, (flow) => flow.IP?.ipVersion ?? "IP_NOT_USED"));
  add<string>("protocol", protocolMatcher);
  add<string>("source_port", (v, f) => portMatcher(v, f, "source_port"));
  add<string>("destination_port", (v, f) => portMatcher(v, f, "destination_port"));
  add<boolean>("reply", replyMatcher);
  add<TCPFlags>("tcp_flags", tcpFlagsMatcher);
  add<string>("node_name", nodeNameMatcher);

  return (flow) => parts.every((p) => p(flow));
}

function stringSet(values: string[], field: string, get: (f: Flow) => string | undefined): FlowPredicate {
  values.forEach((v, i) => {
    if (typeof v !== "string" || v === "") throw new FlowFilterError(`${field}[${i}]`, v, "must be a non-empty string");
  });
  const set = new Set(values);
  return (flow) => set.has(get(flow) ?? "");
}

function ipMatcher(values: string[], field: string, get: (f: Flow) => string | undefined): FlowPredicate {
  const list = new BlockList();
  values.forEach((v, i) => {
    const bad = () =>
      new FlowFilterError(`${field}[${i}]`, v, "not an IP address or CIDR; use e.g. 198.18.1.10, 198.18.1.0/24 or 2001:db8::/32");
    if (typeof v !== "string") throw bad();
    const slash = v.indexOf("/");
    const addr = slash < 0 ? v : v.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) throw bad();
    const type = family === 4 ? "ipv4" : "ipv6";
    if (slash < 0) {
      list.addAddress(addr, type);
      return;
    }
    const prefixText = v.slice(slash + 1);
    const prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) throw bad();
    list.addSubnet(addr, prefix, type);
  });
  return (flow) => {
    const ip = get(flow);
    if (!ip) return false;
    const family = isIP(ip);
    return family !== 0 && list.check(ip, family === 4 ? "ipv4" : "ipv6");
  };
}

/** "ns/name-prefix" or "ns/" (any pod in the namespace). */
function parseNamespacedPrefix(value: string, field: string, what: string): { namespace: string; prefix: string } {
  const slash = typeof value === "string" ? value.indexOf("/") : -1;
  if (slash <= 0) {
    throw new FlowFilterError(field, value, `must be "namespace/" or "namespace/<${what}-name-prefix>"`);
  }
  return { namespace: value.slice(0, slash), prefix: value.slice(slash + 1) };
}

function podMatcher(values: string[], field: string, get: (f: Flow) => Endpoint | undefined): FlowPredicate {
  const wanted = values.map((v, i) => parseNamespacedPrefix(v, `${field}[${i}]`, "pod"));
  return (flow) => {
    const ep = get(flow);
    if (!ep?.namespace) return false;
    const pod = ep.pod_name ?? "";
    return wanted.some((w) => w.namespace === ep.namespace && pod.startsWith(w.prefix));
  };
}

function serviceMatcher(values: string[], field: string, get: (f: Flow) => Service | undefined): FlowPredicate {
  const wanted = values.map((v, i) => parseNamespacedPrefix(v, `${field}[${i}]`, "service"));
  return (flow) => {
    const svc = get(flow);
    if (!svc?.namespace || !svc.name) return false;
    return wanted.some((w) => w.namespace === svc.namespace && svc.name!.startsWith(w.prefix));
  };
}

function workloadMatcher(values: Workload[], field: string, get: (f: Flow) => Endpoint | undefined): FlowPredicate {
  values.forEach((w, i) => {
    if (!w || typeof w !== "object" || (!w.name && !w.kind)) {
      throw new FlowFilterError(`${field}[${i}]`, w, "a workload filter needs a name, a kind, or both");
    }
  });
  return (flow) => {
    const workloads = get(flow)?.workloads ?? [];
    return values.some((w) => workloads.some((x) => (!w.name || x.name === w.name) && (!w.kind || x.kind === w.kind)));
  };
}

function enumMatcher(values: unknown[], field: string, allowed: string[], get: (f: Flow) => string): FlowPredicate {
  values.forEach((v, i) => {
    if (typeof v !== "string" || !allowed.includes(v)) {
      throw new FlowFilterError(`${field}[${i}]`, v, `unknown value; use one of ${allowed.join(", ")}`);
    }
  });
  const set = new Set(values as string[]);
  return (flow) => set.has(get(flow));
}

function protocolMatcher(values: string[], field: string): FlowPredicate {
  const kinds = new Set(
    values.map((v, i) => {
      const kind = typeof v === "string" ? PROTOCOLS[v.toLowerCase()] : undefined;
      if (!kind) {
        throw new FlowFilterError(`${field}[${i}]`, v, `unknown protocol; use one of ${Object.keys(PROTOCOLS).join(", ")}`);
      }
      return kind;
    }),
  );
  return (flow) => {
    const l4 = flow.l4;
    return !!l4 && [...kinds].some((k) => l4[k] !== undefined && l4[k] !== null);
  };
}

function portMatcher(values: string[], field: string, which: "source_port" | "destination_port"): FlowPredicate {
  const ports = new Set(
    values.map((v, i) => {
      const text = typeof v === "number" ? String(v) : v;
      const n = Number(text);
      if (typeof text !== "string" || !/^\d{1,5}$/.test(text) || n > 65535) {
        throw new FlowFilterError(`${field}[${i}]`, v, "not a port; use a number from 0 to 65535");
      }
      return n;
    }),
  );
  return (flow) => {
    const l4 = flow.l4;
    const p = l4?.TCP ?? l4?.UDP ?? l4?.SCTP;
    return p?.[which] !== undefined && ports.has(p[which]!);
  };
}

function replyMatcher(values: boolean[], field: string): FlowPredicate {
  values.forEach((v, i) => {
    if (typeof v !== "boolean") throw new FlowFilterError(`${field}[${i}]`, v, "must be true or false");
  });
  const set = new Set(values);
  // As in Hubble, a flow whose reply status is unknown matches neither true nor false.
  return (flow) => flow.is_reply !== undefined && flow.is_reply !== null && set.has(flow.is_reply.value === true);
}

function tcpFlagsMatcher(values: TCPFlags[], field: string): FlowPredicate {
  const wanted = values.map((v, i) => {
    const set = v && typeof v === "object" ? TCP_FLAG_NAMES.filter((n) => v[n] === true) : [];
    if (set.length === 0) {
      throw new FlowFilterError(`${field}[${i}]`, v, `set at least one of ${TCP_FLAG_NAMES.join(", ")} to true`);
    }
    return set;
  });
  // A filter matches when every flag it sets is set on the flow.
  return (flow) => {
    const flags = flow.l4?.TCP?.flags;
    return !!flags && wanted.some((names) => names.every((n) => flags[n] === true));
  };
}

function nodeNameMatcher(values: string[], field: string): FlowPredicate {
  const patterns = values.map((v, i) => {
    if (typeof v !== "string" || v === "" || !/^[A-Za-z0-9.*/_-]+$/.test(v)) {
      throw new FlowFilterError(`${field}[${i}]`, v, "must be a node name, optionally with * wildcards (e.g. gke-pool-*)");
    }
    const body = v.split("*").map((s) => s.replace(/[.\\/]/g, "\\$&")).join("[^/]*");
    return new RegExp(`^${body}$`);
  });
  return (flow) => patterns.some((p) => p.test(flow.node_name ?? ""));
}

type LabelRequirement = (labels: Map<string, string>) => boolean;

function labelMatcher(values: string[], field: string, get: (f: Flow) => Endpoint | undefined): FlowPredicate {
  const selectors = values.map((v, i) => parseLabelSelector(v, `${field}[${i}]`));
  return (flow) => {
    const labels = labelMap(get(flow)?.labels ?? []);
    return selectors.some((reqs) => reqs.every((r) => r(labels)));
  };
}

/** Flow labels are "k=v" strings, possibly with a source prefix ("k8s:app=web"); both spellings of the key are indexed. */
function labelMap(labels: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const l of labels) {
    const eq = l.indexOf("=");
    const key = eq < 0 ? l : l.slice(0, eq);
    const value = eq < 0 ? "" : l.slice(eq + 1);
    map.set(key, value);
    const colon = key.indexOf(":");
    if (colon > 0 && !map.has(key.slice(colon + 1))) map.set(key.slice(colon + 1), value);
  }
  return map;
}

const LABEL_KEY = /^([A-Za-z0-9-]+:)?([A-Za-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;

/**
 * Parses the subset of Kubernetes label selector syntax Hubble users type:
 * `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, joined by commas.
 */
export function parseLabelSelector(selector: string, field = "label"): LabelRequirement[] {
  if (typeof selector !== "string" || selector.trim() === "") {
    throw new FlowFilterError(field, selector, "must be a label selector such as app=web, tier!=db, app, !canary or env in (a,b)");
  }
  const terms = splitTerms(selector, field);
  return terms.map((term) => parseRequirement(term, selector, field));
}

function splitTerms(selector: string, field: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    if (depth < 0 || depth > 1) throw new FlowFilterError(field, selector, "unbalanced parentheses");
    if (c === "," && depth === 0) {
      terms.push(selector.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (depth !== 0) throw new FlowFilterError(field, selector, "unbalanced parentheses");
  terms.push(selector.slice(start).trim());
  if (terms.some((t) => t === "")) throw new FlowFilterError(field, selector, "empty requirement between commas");
  return terms;
}

function parseRequirement(term: string, selector: string, field: string): LabelRequirement {
  const checkKey = (key: string) => {
    if (!LABEL_KEY.test(key)) throw new FlowFilterError(field, selector, `invalid label key "${key}"`);
    return key;
  };
  const checkValue = (value: string) => {
    if (!LABEL_VALUE.test(value) || value.length > 63) throw new FlowFilterError(field, selector, `invalid label value "${value}"`);
    return value;
  };
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
  if (set) {
    const key = checkKey(set[1]);
    const vals = set[3].split(",").map((s) => checkValue(s.trim()));
    if (vals.length === 0 || (vals.length === 1 && vals[0] === "")) {
      throw new FlowFilterError(field, selector, `"${key} ${set[2]} ()" needs at least one value`);
    }
    const inSet = new Set(vals);
    return set[2] === "in"
      ? (labels) => labels.has(key) && inSet.has(labels.get(key)!)
      : (labels) => !labels.has(key) || !inSet.has(labels.get(key)!);
  }
  const op = /^([^=!\s]+)\s*(==|!=|=)\s*(\S*)$/.exec(term);
  if (op) {
    const key = checkKey(op[1]);
    const value = checkValue(op[3]);
    return op[2] === "!=" ? (labels) => labels.get(key) !== value : (labels) => labels.get(key) === value;
  }
  if (term.startsWith("!")) {
    const key = checkKey(term.slice(1).trim());
    return (labels) => !labels.has(key);
  }
  const key = checkKey(term);
  return (labels) => labels.has(key);
}
