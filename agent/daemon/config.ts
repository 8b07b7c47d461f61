// `flowlens agent` flags (names in docs/DEVELOPING.md). Every flag can also be
// set as FLOWLENS_<FLAG_IN_UPPER_SNAKE>; a flag on the command line wins.
import * as fs from "node:fs";
import * as os from "node:os";
import { parseArgs } from "node:util";
import { NAT_HOOKS, type NatHook } from "../kernel/egress-nat";

export const DEFAULT_CGROUP_ROOT = "/sys/fs/cgroup/unified";

export interface AgentConfig {
  nodeName: string;
  listenAddress: string;
  metricsAddress: string;
  cgroupRoot: string;
  metadataFile?: string;
  kubernetes: boolean;
  ringCapacity: number;
  flushIntervalMs: number;
  ringbufBytes?: number;
  tcInterfaces: string[];
  /** Attach the program that reports source NAT (translated source on flows). */
  egressNat: boolean;
  /** Network namespaces where source NAT happens (empty: the agent's own). */
  egressNatNetns: string[];
  /** The NAT hook: netfilter where the kernel has it (auto), or the tracepoint, which sees every namespace. */
  egressNatHook: "auto" | NatHook;
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
}

const FLAGS = {
  "node-name": { type: "string" },
  "listen-address": { type: "string" },
  "metrics-address": { type: "string" },
  "cgroup-root": { type: "string" },
  "metadata-file": { type: "string" },
  kubernetes: { type: "boolean" },
  "ring-capacity": { type: "string" },
  "flush-interval": { type: "string" },
  "ringbuf-bytes": { type: "string" },
  "tc-interface": { type: "string", multiple: true },
  "no-egress-nat": { type: "boolean" },
  "egress-nat-netns": { type: "string", multiple: true },
  "egress-nat-hook": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-client-ca": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const USAGE = `usage: flowlens agent [flags]

  --node-name NAME          node reported in flows (default: the host name)
  --listen-address ADDR     Observer gRPC server (default :4244)
  --metrics-address ADDR    Prometheus metrics, /healthz, /readyz (default :9965)
  --cgroup-root DIR         cgroup v2 directory whose subtree is observed (default ${DEFAULT_CGROUP_ROOT})
  --metadata-file FILE      enrich from the lab's pod metadata file
  --kubernetes              enrich from the Kubernetes API (in-cluster service account)
  --ring-capacity N         flows kept for GetFlows (default 65536)
  --flush-interval DURATION how often active flows are reported (default 5s)
  --ringbuf-bytes SIZE      kernel ring buffer size, a power of two (e.g. 8MiB)
  --tc-interface NAME       also attach TC programs here (repeatable; only where no Cilium runs)
  --no-egress-nat           do not report translated sources
  --egress-nat-netns PATH   network namespace where source NAT happens, e.g. /run/netns/node-a (repeatable;
                            default: the agent's own, the host's on a node)
  --egress-nat-hook HOOK    auto (conntrack where events can be subscribed to, else netfilter on Linux 6.4+, else
                            tracepoint), conntrack (conntrack's new-connection events: nothing per packet),
                            netfilter (a program after source NAT: every packet routed there), or tracepoint
                            (net_dev_queue: every namespace, but runs for every queued packet)
  --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]   serve gRPC over TLS (mTLS with a client CA)

Every flag can be set in the environment as FLOWLENS_<FLAG>, e.g. FLOWLENS_NODE_NAME.
`;

export class ConfigError extends Error {}

/** Parses "500ms", "5s", "2m" or "1h" into milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  const unit = m ? { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms"] : 0;
  const ms = m ? Number(m[1]) * unit : NaN;
  if (!m || !(ms > 0)) throw new ConfigError(`${flag} "${text}": expected a positive duration such as 500ms, 5s or 1m`);
  return ms;
}

/** Parses a byte size: a plain number, or with a KiB/MiB/GiB suffix. */
export function parseByteSize(text: string, flag: string): number {
  const m = /^(\d+)\s*(|B|KiB|MiB|GiB)$/.exec(text.trim());
  if (!m) throw new ConfigError(`${flag} "${text}": expected a size such as 8MiB, 256KiB or 1048576`);
  const mult = { "": 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2]]!;
  return Number(m[1]) * mult;
}

function envName(flag: string): string {
  return `FLOWLENS_${flag.replace(/-/g, "_").toUpperCase()}`;
}

/** Returns the config, or null when help was asked for. */
export function parseAgentConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentConfig | null {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: FLAGS, allowPositionals: false, strict: true });
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}\n\n${USAGE}`);
  }
  const v = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (v.help) return null;

  const str = (flag: keyof typeof FLAGS): string | undefined => {
    const fromArgs = v[flag];
    if (typeof fromArgs === "string") return fromArgs;
    const fromEnv = env[envName(flag)];
    return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
  };
  const bool = (flag: keyof typeof FLAGS): boolean => {
    if (v[flag] === true) return true;
    const fromEnv = env[envName(flag)];
    if (fromEnv === undefined || fromEnv === "") return false;
    if (/^(1|true|yes)$/i.test(fromEnv)) return true;
    if (/^(0|false|no)$/i.test(fromEnv)) return false;
    throw new ConfigError(`${envName(flag)}="${fromEnv}": expected true or false`);
  };

  const metadataFile = str("metadata-file");
  const kubernetes = bool("kubernetes");
  if (metadataFile && kubernetes) {
    throw new ConfigError("--metadata-file and --kubernetes are exclusive: use the file in the lab and --kubernetes in a cluster");
  }

  const ringText = str("ring-capacity") ?? "65536";
  const ringCapacity = Number(ringText);
  if (!/^\d+$/.test(ringText) || ringCapacity < 1 || ringCapacity > 16_777_216) {
    throw new ConfigError(`--ring-capacity "${ringText}": expected a whole number from 1 to 16777216`);
  }

  const ringbufText = str("ringbuf-bytes");
  let ringbufBytes: number | undefined;
  if (ringbufText !== undefined) {
    ringbufBytes = parseByteSize(ringbufText, "--ringbuf-bytes");
    const page = 4096;
    if (ringbufBytes < page || (ringbufBytes & (ringbufBytes - 1)) !== 0) {
      throw new ConfigError(`--ringbuf-bytes "${ringbufText}": the kernel needs a power of two of at least 4KiB, e.g. 8MiB`);
    }
  }

  const tcFromArgs = v["tc-interface"] as string[] | undefined;
  const tcEnv = env[envName("tc-interface")];
  const tcInterfaces = tcFromArgs ?? (tcEnv ? tcEnv.split(",").map((s) => s.trim()).filter(Boolean) : []);
  const natNetnsEnv = env[envName("egress-nat-netns")];
  const egressNatNetns = (v["egress-nat-netns"] as string[] | undefined) ?? (natNetnsEnv ? natNetnsEnv.split(",").map((s) => s.trim()).filter(Boolean) : []);
  const egressNatHook = str("egress-nat-hook") ?? "auto";
  if (egressNatHook !== "auto" && !(NAT_HOOKS as readonly string[]).includes(egressNatHook)) {
    throw new ConfigError(`--egress-nat-hook ${egressNatHook}: expected auto, ${NAT_HOOKS.join(", ")}`);
  }
  for (const ns of egressNatNetns) {
    if (!fs.existsSync(ns)) throw new ConfigError(`--egress-nat-netns ${ns}: no such file; pass a network namespace such as /run/netns/NAME or /proc/PID/ns/net`);
  }

  const cgroupRoot = str("cgroup-root") ?? DEFAULT_CGROUP_ROOT;
  if (!fs.existsSync(cgroupRoot) || !fs.statSync(cgroupRoot).isDirectory()) {
    throw new ConfigError(`--cgroup-root "${cgroupRoot}": no such directory; point it at a cgroup v2 directory (default ${DEFAULT_CGROUP_ROOT})`);
  }

  const certFile = str("tls-cert");
  const keyFile = str("tls-key");
  const clientCaFile = str("tls-client-ca");
  if (!!certFile !== !!keyFile) throw new ConfigError("--tls-cert and --tls-key go together: set both to serve TLS, or neither");
  if (clientCaFile && !certFile) throw new ConfigError("--tls-client-ca needs --tls-cert and --tls-key: mTLS requires a server certificate");

  return {
    nodeName: str("node-name") ?? os.hostname(),
    listenAddress: str("listen-address") ?? ":4244",
    metricsAddress: str("metrics-address") ?? ":9965",
    cgroupRoot,
    metadataFile,
    kubernetes,
    ringCapacity,
    flushIntervalMs: parseDuration(str("flush-interval") ?? "5s", "--flush-interval"),
    ringbufBytes,
    tcInterfaces,
    egressNat: !bool("no-egress-nat"),
    egressNatNetns,
    egressNatHook: egressNatHook as "auto" | NatHook,
    tls: certFile && keyFile ? { certFile, keyFile, clientCaFile } : undefined,
  };
}
