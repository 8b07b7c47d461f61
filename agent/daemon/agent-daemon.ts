// Wires the node agent together: kernel records -> flows -> ring, metrics and
// the Observer server; enrichment from the file or the Kubernetes API.
import * as fs from "node:fs";
import { KernelCapture } from "../kernel/capture";
import type { KernelRecord } from "../kernel/record";
import type { Enrichment } from "../enrichment/types";
import { MetadataFileEnrichment } from "../enrichment/metadata-file";
import { KubernetesEnrichment } from "../enrichment/kubernetes";
import { inClusterConfig } from "../enrichment/kubernetes-client";
import type { AgentConfig } from "./config";
import { FlowBuilder } from "./flow-builder";
import { FlowColumns, FlowIds } from "./flow-entry";
import { FlowRing } from "./flow-ring";
import { AgentMetrics } from "./metrics";
import { MetricsServer } from "./metrics-server";
import { NatTable, patchRecent } from "./nat-table";
import { ObserverServer, type ServerTls } from "./observer-server";
import { RateWindow } from "./rate-window";
import { RecordIngest } from "./record-ingest";

/** Ring events searched for a connection's earlier records when its NAT binding arrives. */
const NAT_PATCH_LOOKBACK = 4096;
// A connection's records before its NAT binding arrive within milliseconds of it; older ones are not scanned.
const NAT_PATCH_WINDOW_MS = 1000;

export const AGENT_VERSION = `flowlens-agent ${require("../../package.json").version}`;

/** Enrichment that knows nothing: used when neither --metadata-file nor --kubernetes is set. */
const NO_ENRICHMENT: Enrichment = {
  podByCgroup: () => undefined,
  podByIp: () => undefined,
  serviceByIp: () => undefined,
  synced: true,
  close: async () => undefined,
};

function readTls(tls: AgentConfig["tls"]): ServerTls | undefined {
  if (!tls) return undefined;
  const read = (file: string, flag: string) => {
    try {
      return fs.readFileSync(file);
    } catch (e) {
      throw new Error(`${flag} ${file}: ${(e as Error).message}; create certificates with \`flowlens certs\``);
    }
  };
  return {
    cert: read(tls.certFile, "--tls-cert"),
    key: read(tls.keyFile, "--tls-key"),
    clientCa: tls.clientCaFile ? read(tls.clientCaFile, "--tls-client-ca") : undefined,
  };
}

export class AgentDaemon {
  private readonly log: (line: string) => void;
  private capture?: KernelCapture;
  private enrichment: Enrichment = NO_ENRICHMENT;
  private observer?: ObserverServer;
  private metricsServer?: MetricsServer;
  private lossTimer?: NodeJS.Timeout;
  private readonly ring: FlowRing;
  private readonly columns: FlowColumns;
  private readonly metrics = new AgentMetrics();
  private readonly nat = new NatTable();
  private readonly flowsRate = new RateWindow(60);
  private readonly eventsRate = new RateWindow(1);
  private lostSoFar = 0;
  private natOverflowsSoFar = 0;
  private attached = false;
  grpcPort = 0;
  metricsPort = 0;

  constructor(
    private readonly config: AgentConfig,
    log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {
    this.log = log;
    this.columns = new FlowColumns(config.ringCapacity, new FlowIds(config.nodeName));
    this.ring = new FlowRing(config.ringCapacity, this.columns);
  }

  async start(): Promise<void> {
    const { config } = this;
    this.enrichment = this.startEnrichment();
    this.metricsServer = new MetricsServer(this.metrics.registry, { notReady: () => this.notReady() });
    this.metricsPort = await this.metricsServer.listen(config.metricsAddress);
    this.observer = new ObserverServer({
      ring: this.ring,
      nodeName: config.nodeName,
      version: AGENT_VERSION,
      flowsRate: () => this.flowsRate.perSecond(),
      tls: readTls(config.tls),
      onFollowerLoss: (n) => this.metrics.lostInObserver(n),
    });
    this.grpcPort = await this.observer.listen(config.listenAddress);

    const builder = new FlowBuilder({ nodeName: config.nodeName, enrichment: this.enrichment });
    this.capture = await KernelCapture.open({
      cgroupRoot: config.cgroupRoot,
      ringBufferBytes: config.ringbufBytes,
      flushIntervalMs: config.flushIntervalMs,
      tcInterfaces: config.tcInterfaces,
      egressNat: config.egressNat,
      egressNatNetns: config.egressNatNetns,
      egressNatHook: config.egressNatHook,
    });
    const ingest = new RecordIngest({ ring: this.ring, columns: this.columns, builder, metrics: this.metrics, nat: this.nat, onNat: (r) => this.learnNat(r) });
    this.capture.onBatches((batch) => {
      ingest.ingest(batch, Date.now());
      this.eventsRate.add(batch.count);
      this.flowsRate.add(batch.count);
    });
    this.attached = true;
    this.lossTimer = setInterval(() => this.pollLosses(), 1000);
    this.log(`flowlens agent: node ${config.nodeName}, gRPC on port ${this.grpcPort}, metrics on port ${this.metricsPort}, observing ${config.cgroupRoot}` +
        (this.capture.natHook ? `, egress NAT from the ${this.capture.natHook} hook` : "") +
        (this.capture.socketIterator === "netns" ? "; open sockets read per network namespace (this kernel refuses map iterators)" : ""));
  }

  /** A NAT binding is no flow: it fills the translated source of its connection's flows, past and future. */
  private learnNat(r: KernelRecord): void {
    const key = this.nat.learn(r);
    patchRecent(this.ring.eventsNewestFirst(), key, r.xlatedSrcAddr, NAT_PATCH_LOOKBACK, Date.now() - NAT_PATCH_WINDOW_MS);
  }

  private startEnrichment(): Enrichment {
    const { config } = this;
    const onError = (err: Error) => this.log(`enrichment: ${err.message}`);
    if (config.metadataFile) return new MetadataFileEnrichment({ file: config.metadataFile, onError }).start();
    if (config.kubernetes) {
      return new KubernetesEnrichment({ config: inClusterConfig(), nodeName: config.nodeName, cgroupRoot: config.cgroupRoot, onError }).start();
    }
    return NO_ENRICHMENT;
  }

  private pollLosses(): void {
    this.metrics.eventsPerSecond.set(this.eventsRate.perSecond());
    const stats = this.capture?.lossStats();
    const natOverflows = stats?.natEventOverflows ?? 0;
    if (natOverflows > this.natOverflowsSoFar) {
      this.metrics.natEventsOverflowed(natOverflows - this.natOverflowsSoFar);
      this.natOverflowsSoFar = natOverflows;
    }
    const lost = stats?.ringbufLost ?? 0;
    const delta = lost - this.lostSoFar;
    if (delta <= 0) return;
    this.lostSoFar = lost;
    this.metrics.lostInKernel(delta);
    this.ring.push({ lost: { source: "PERF_EVENT_RING_BUFFER", num_events_lost: delta }, timeMs: Date.now() });
  }

  private notReady(): string[] {
    const reasons: string[] = [];
    if (!this.attached) reasons.push("BPF programs not attached yet");
    if (!this.enrichment.synced) reasons.push("enrichment has not completed its first sync");
    return reasons;
  }

  /** Detaches the kernel programs and stops every server; safe to call more than once. */
  async stop(): Promise<void> {
    clearInterval(this.lossTimer);
    this.attached = false;
    const capture = this.capture;
    this.capture = undefined;
    capture?.close();
    await Promise.all([this.observer?.close(), this.metricsServer?.close(), this.enrichment.close()]);
  }
}
