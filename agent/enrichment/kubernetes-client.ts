// A small list-and-watch client for the Kubernetes API, authenticated with
// the pod's service account. Only what enrichment needs: list a collection,
// then follow its watch stream from the list's resourceVersion, relisting when
// the server says the version is gone (410) and reconnecting with backoff.
import * as fs from "node:fs";
import * as https from "node:https";

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubeApiConfig {
  /** Base URL such as https://10.0.0.1:443. */
  server: string;
  /** Read on every request: projected service account tokens rotate. */
  token: () => string;
  ca: Buffer;
}

/** The in-cluster configuration, or an error that says which piece is missing. */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): KubeApiConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host) {
    throw new Error("--kubernetes: KUBERNETES_SERVICE_HOST is not set; run the agent in a pod, or use --metadata-file outside a cluster");
  }
  const read = (name: string) => {
    try {
      return fs.readFileSync(`${dir}/${name}`);
    } catch (e) {
      throw new Error(`--kubernetes: cannot read ${dir}/${name} (${(e as Error).message}); mount the service account token (automountServiceAccountToken: true)`);
    }
  };
  const ca = read("ca.crt");
  read("token");
  const server = host.includes(":") ? `https://[${host}]:${port}` : `https://${host}:${port}`;
  return { server, ca, token: () => read("token").toString("utf8").trim() };
}

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; ownerReferences?: { kind: string; name: string; controller?: boolean }[] };
  [key: string]: unknown;
}

export interface WatchHandlers<T extends KubeObject> {
  /** The complete collection after every (re)list. */
  onList(items: T[]): void;
  onEvent(type: "ADDED" | "MODIFIED" | "DELETED", obj: T): void;
  onError(err: Error): void;
}

export class KubeWatch<T extends KubeObject> {
  private stopped = false;
  private request?: ReturnType<typeof https.request>;
  private retryTimer?: NodeJS.Timeout;
  private backoffMs = 1000;
  private resourceVersion?: string;

  constructor(
    private readonly config: KubeApiConfig,
    /** Collection path, e.g. /api/v1/pods. */
    private readonly path: string,
    private readonly query: Record<string, string>,
    private readonly handlers: WatchHandlers<T>,
  ) {}

  start(): this {
    this.list();
    return this;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.request?.destroy();
  }

  private url(extra: Record<string, string>): URL {
    const url = new URL(this.path, this.config.server);
    for (const [k, v] of Object.entries({ ...this.query, ...extra })) url.searchParams.set(k, v);
    return url;
  }

  private get(url: URL, onResponse: (res: import("node:http").IncomingMessage) => void): void {
    if (this.stopped) return;
    let responded = false;
    const req = https.request(url, { ca: this.config.ca, headers: { Authorization: `Bearer ${this.config.token()}`, Accept: "application/json" } }, (res) => {
      responded = true;
      onResponse(res);
    });
    // Once a response arrived, its own handlers decide what comes next.
    req.on("error", (err) => {
      if (!responded) this.fail(new Error(`GET ${url.pathname}: ${err.message}`));
    });
    this.request = req;
    req.end();
  }

  private fail(err: Error): void {
    if (this.stopped) return;
    this.handlers.onError(err);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.list(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
  }

  private list(): void {
    const url = this.url({});
    this.get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (err) => this.fail(err));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) {
          const hint = res.statusCode === 401 || res.statusCode === 403 ? "; grant the agent's service account get/list/watch on this resource" : "";
          return this.fail(new Error(`list ${url.pathname}: HTTP ${res.statusCode} ${body.slice(0, 200)}${hint}`));
        }
        try {
          const parsed = JSON.parse(body) as { items?: T[]; metadata?: { resourceVersion?: string } };
          this.resourceVersion = parsed.metadata?.resourceVersion;
          this.handlers.onList(parsed.items ?? []);
          this.backoffMs = 1000;
          this.watch();
        } catch (e) {
          this.fail(new Error(`list ${url.pathname}: ${(e as Error).message}`));
        }
      });
    });
  }

  private watch(): void {
    const url = this.url({ watch: "1", allowWatchBookmarks: "true", resourceVersion: this.resourceVersion ?? "" });
    this.get(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return this.fail(new Error(`watch ${url.pathname}: HTTP ${res.statusCode}`));
      }
      let buffered = "";
      let relist = false;
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line && this.handleLine(line)) relist = true;
        }
        if (relist) res.destroy();
      });
      res.on("error", () => undefined);
      res.on("close", () => {
        if (this.stopped) return;
        // A watch ends normally after the server's timeout; resume from the last version seen.
        if (relist) this.list();
        else this.watch();
      });
    });
  }

  /** Returns true when the stream must be abandoned for a fresh list. */
  private handleLine(line: string): boolean {
    let event: { type: string; object: T & { code?: number } };
    try {
      event = JSON.parse(line);
    } catch {
      this.handlers.onError(new Error(`watch ${this.path}: undecodable event ${line.slice(0, 100)}`));
      return true;
    }
    const rv = event.object?.metadata?.resourceVersion;
    if (event.type === "ERROR") {
      // 410 Gone: our resourceVersion is too old; anything else is also best recovered by relisting.
      if (event.object.code !== 410) this.handlers.onError(new Error(`watch ${this.path}: ${JSON.stringify(event.object).slice(0, 200)}`));
      return true;
    }
    if (rv) this.resourceVersion = rv;
    if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED") this.handlers.onEvent(event.type, event.object);
    return false;
  }
}
