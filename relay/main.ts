// `flowlens relay`: discovers agents, merges their flows, keeps history and
// serves the Observer API on :4245. Flags: docs/DEVELOPING.md and docs/relay.md.
import type * as http from "node:http";
import type * as grpc from "@grpc/grpc-js";
import { reportError, UsageError } from "../cli/lib/errors";
import { listenAddress, listFlag, parseFlags, stringFlag } from "../cli/lib/flags";
import { parseByteSize, parseDuration } from "../cli/lib/time";
import { peerCredentials, serverCredentials } from "./credentials";
import { DnsDiscovery } from "./discovery/dns";
import { KubernetesDiscovery } from "./discovery/kubernetes";
import { StaticDiscovery } from "./discovery/static";
import { splitHostPort, type PeerDiscovery } from "./discovery/types";
import type { GetFlowsContext } from "./get-flows";
import { HistoryIngest } from "./history/ingest";
import { FlowHistory } from "./history/store";
import { serveMetrics } from "./metrics";
import { PeerSet } from "./peer-set";
import { bindServer, createRelayServer } from "./server";

const FLAGS = {
  "listen-address": { type: "string" },
  peers: { type: "string", multiple: true },
  "peer-dns": { type: "string" },
  "peer-kubernetes": { type: "string" },
  "peer-port": { type: "string" },
  "discovery-interval": { type: "string" },
  "hubble-relay": { type: "string" },
  "peer-tls-ca": { type: "string" },
  "peer-tls-cert": { type: "string" },
  "peer-tls-key": { type: "string" },
  "peer-tls-server-name": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-client-ca": { type: "string" },
  "tls-reload-interval": { type: "string" },
  "history-dir": { type: "string" },
  "history-retention": { type: "string" },
  "history-max-bytes": { type: "string" },
  "metrics-address": { type: "string" },
  "sort-window": { type: "string" },
  "resume-window": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const HELP = `usage: flowlens relay [flags]

Merges the flows of every agent (or of GKE's managed hubble-relay) and serves
the Observer API. Exactly one peer source:
  --peers host:port,...            a static list
  --peer-dns name:port             every address of a (headless Service) name, re-resolved
  --peer-kubernetes ns/selector    Running, Ready pods matching the selector (port --peer-port, 4244)
  --hubble-relay host:port         GKE's managed hubble-relay as the only upstream
  --discovery-interval D           re-resolve / re-list period (default 10s)
peer TLS (mTLS towards agents; files are re-read every --tls-reload-interval):
  --peer-tls-ca, --peer-tls-cert, --peer-tls-key, --peer-tls-server-name
server:
  --listen-address (default :4245)  --tls-cert, --tls-key, --tls-client-ca (mTLS)
  --tls-reload-interval D (default 10s)   --metrics-address host:port
history:
  --history-dir DIR  --history-retention D (default 24h)  --history-max-bytes N (default 1GiB)
merging:
  --sort-window D (default 250ms)   --resume-window D (default 10s)
Every flag can also be set as FLOWLENS_<FLAG> (e.g. FLOWLENS_PEER_DNS).
`;

export interface RelayHandle {
  port: number;
  context: GetFlowsContext;
  close(): Promise<void>;
}

function discoveryFrom(flags: ReturnType<typeof parseFlags>, log: (m: string) => void): { discovery: PeerDiscovery; isRelay: boolean } {
  const peers = listFlag(flags, "peers");
  const dnsName = stringFlag(flags, "peer-dns");
  const kube = stringFlag(flags, "peer-kubernetes");
  const hubble = stringFlag(flags, "hubble-relay");
  const given = [peers.length && "--peers", dnsName && "--peer-dns", kube && "--peer-kubernetes", hubble && "--hubble-relay"].filter(Boolean);
  if (given.length !== 1) {
    throw new UsageError(given.length ? `${given.join(" and ")} are exclusive; give exactly one peer source` : "no peers: give --peers host:port,..., --peer-dns name:port, --peer-kubernetes namespace/labelSelector or --hubble-relay host:port");
  }
  const intervalMs = parseDuration(stringFlag(flags, "discovery-interval") ?? "10s", "--discovery-interval");
  const check = (v: string, flag: string) => {
    try {
      return splitHostPort(v, flag);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  };
  if (peers.length) {
    peers.forEach((p) => check(p, "--peers"));
    return { discovery: new StaticDiscovery(peers), isRelay: false };
  }
  if (hubble) {
    check(hubble, "--hubble-relay");
    return { discovery: new StaticDiscovery([hubble]), isRelay: true };
  }
  if (dnsName) {
    const { host, port } = check(dnsName, "--peer-dns");
    return { discovery: new DnsDiscovery(host, port, intervalMs, log), isRelay: false };
  }
  const slash = kube!.indexOf("/");
  if (slash <= 0 || slash === kube!.length - 1) throw new UsageError(`--peer-kubernetes "${kube}" is not namespace/labelSelector; e.g. flowlens/app.kubernetes.io/name=flowlens-agent`);
  const port = Number(stringFlag(flags, "peer-port") ?? "4244");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--peer-port "${stringFlag(flags, "peer-port")}" is not a port`);
  return { discovery: new KubernetesDiscovery(kube!.slice(0, slash), kube!.slice(slash + 1), port, intervalMs, log), isRelay: false };
}

/** Starts the relay; used by `run` and by benchmarks that host it in-process. */
export async function startRelay(argv: string[], log: (msg: string) => void = (m) => process.stderr.write(`relay: ${m}\n`)): Promise<RelayHandle> {
  const flags = parseFlags("relay", argv, FLAGS);
  if (flags.positionals.length) throw new UsageError(`unexpected argument "${flags.positionals[0]}"`);
  const reloadMs = parseDuration(stringFlag(flags, "tls-reload-interval") ?? "10s", "--tls-reload-interval");
  const { discovery, isRelay } = discoveryFrom(flags, log);
  const peerTls = {
    ca: stringFlag(flags, "peer-tls-ca"),
    cert: stringFlag(flags, "peer-tls-cert"),
    key: stringFlag(flags, "peer-tls-key"),
    serverName: stringFlag(flags, "peer-tls-server-name"),
  };
  const { credentials, options } = peerCredentials(peerTls, reloadMs);
  const serverCreds = serverCredentials({ cert: stringFlag(flags, "tls-cert"), key: stringFlag(flags, "tls-key"), clientCa: stringFlag(flags, "tls-client-ca") }, reloadMs);
  await serverCreds.ready; // the server is bound below, once its certificate files are read
  const sortWindowMs = parseDuration(stringFlag(flags, "sort-window") ?? "250ms", "--sort-window");
  const resumeWindowUs = parseDuration(stringFlag(flags, "resume-window") ?? "10s", "--resume-window") * 1000;
  const historyDir = stringFlag(flags, "history-dir");
  const historyOptions = {
    retentionMs: parseDuration(stringFlag(flags, "history-retention") ?? "24h", "--history-retention"),
    maxBytes: parseByteSize(stringFlag(flags, "history-max-bytes") ?? "1GiB", "--history-max-bytes"),
  };
  const history = historyDir ? new FlowHistory(historyDir, historyOptions) : undefined;

  const peers = new PeerSet({ credentials, channelOptions: options, tls: !!peerTls.ca, tlsServerName: peerTls.serverName, tlsFiles: peerTls, healthIntervalMs: 1000, isRelay }, log);
  const context: GetFlowsContext = { peers, history, sortWindowMs, sortWindowMaxItems: 100_000, resumeWindowUs };
  const server: grpc.Server = createRelayServer(context);
  const address = listenAddress(stringFlag(flags, "listen-address") ?? ":4245");
  const port = await bindServer(server, address, serverCreds.credentials);
  const ingest = history ? new HistoryIngest(history, peers, { flushMs: 250, retentionCheckMs: 30_000, resumeWindowUs }, log) : undefined;
  ingest?.start();
  discovery.start((targets) => peers.update(targets));
  const metricsAddress = stringFlag(flags, "metrics-address");
  const metrics: http.Server | undefined = metricsAddress ? serveMetrics(metricsAddress, peers, history, log) : undefined;
  log(`listening on ${address.replace(/:0$/, `:${port}`)}${stringFlag(flags, "tls-cert") ? " (TLS)" : ""}; peers from ${discovery.description}${history ? `; history in ${history.file}` : ""}`);
  return {
    port,
    context,
    close: async () => {
      discovery.stop();
      ingest?.stop();
      peers.close();
      metrics?.close();
      // Followed GetFlows calls never end on their own: cancel them.
      server.forceShutdown();
      history?.close();
    },
  };
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(HELP);
    return 0;
  }
  let relay: RelayHandle;
  try {
    relay = await startRelay(argv);
  } catch (err) {
    return reportError("relay", err);
  }
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  const forced = setTimeout(() => process.exit(0), 5000);
  await relay.close();
  clearTimeout(forced);
  return 0;
}
