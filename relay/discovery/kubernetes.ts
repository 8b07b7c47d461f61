// Agents found through the Kubernetes API: Running, Ready pods matching a label
// selector in one namespace, listed every `intervalMs` with the pod's service
// account (RBAC: get/list pods in that namespace). The node name comes from
// spec.nodeName, so node status events name nodes even before a flow arrives.
import * as fs from "node:fs";
import * as https from "node:https";
import { joinHostPort, type PeerDiscovery, type PeerTarget } from "./types";

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

interface PodList {
  items?: {
    metadata?: { name?: string };
    spec?: { nodeName?: string };
    status?: { phase?: string; podIP?: string; conditions?: { type?: string; status?: string }[] };
  }[];
}

export class KubernetesDiscovery implements PeerDiscovery {
  readonly description: string;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly namespace: string,
    private readonly labelSelector: string,
    private readonly port: number,
    private readonly intervalMs: number,
    private readonly onError: (msg: string) => void,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly serviceAccountDir = SERVICE_ACCOUNT_DIR,
  ) {
    this.description = `Kubernetes pods in ${namespace} matching ${labelSelector} every ${intervalMs / 1000}s`;
  }

  start(onChange: (peers: PeerTarget[]) => void): void {
    const poll = async () => {
      try {
        const pods = await this.listPods();
        if (!this.stopped) onChange(pods);
      } catch (err) {
        this.onError(`listing agent pods for --peer-kubernetes failed (${(err as Error).message}); keeping the previous peers and retrying in ${this.intervalMs / 1000}s`);
      }
      if (!this.stopped) this.timer = setTimeout(poll, this.intervalMs);
    };
    void poll();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private listPods(): Promise<PeerTarget[]> {
    const host = this.env.KUBERNETES_SERVICE_HOST;
    const port = this.env.KUBERNETES_SERVICE_PORT ?? "443";
    if (!host) return Promise.reject(new Error("KUBERNETES_SERVICE_HOST is not set: --peer-kubernetes works only inside a cluster; use --peers or --peer-dns elsewhere"));
    // Read on every poll: the kubelet rotates the projected token.
    const token = fs.readFileSync(`${this.serviceAccountDir}/token`, "utf8").trim();
    const ca = fs.readFileSync(`${this.serviceAccountDir}/ca.crt`);
    const path = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods?labelSelector=${encodeURIComponent(this.labelSelector)}`;
    return new Promise((resolve, reject) => {
      const req = https.get({ host, port, path, ca, headers: { Authorization: `Bearer ${token}`, Accept: "application/json" }, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200) return reject(new Error(`API server answered ${res.statusCode}: ${body.slice(0, 200)}`));
          try {
            resolve(readyAgents(JSON.parse(body) as PodList, this.port));
          } catch (err) {
            reject(err as Error);
          }
        });
      });
      req.on("timeout", () => req.destroy(new Error("no answer from the API server within 10s")));
      req.on("error", reject);
    });
  }
}

/** Running, Ready pods with an IP, as peers; exported for its rules to be tested without an API server. */
export function readyAgents(list: PodList, port: number): PeerTarget[] {
  return (list.items ?? [])
    .filter((p) => p.status?.phase === "Running" && p.status.podIP && (p.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"))
    .map((p) => ({ address: joinHostPort(p.status!.podIP!, port), name: p.spec?.nodeName }))
    .sort((a, b) => a.address.localeCompare(b.address));
}
