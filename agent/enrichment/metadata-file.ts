// Enrichment from the lab's pod metadata file (format in docs/DEVELOPING.md).
// The lab rewrites the file atomically (temp file + rename), so the directory
// is watched rather than the file: a rename replaces the inode a file watch
// would be holding on to.
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { EndpointIndex } from "./endpoint-index";
import type { Enrichment, PodInfo, ServiceInfo } from "./types";

const metadataSchema = z.object({
  pods: z
    .array(
      z.object({
        namespace: z.string().min(1),
        name: z.string().min(1),
        node: z.string().optional(),
        labels: z.record(z.string()).default({}),
        workload: z.object({ name: z.string(), kind: z.string() }).optional(),
        ips: z.array(z.string().ip()).default([]),
        cgroupPath: z.string().optional(),
      }),
    )
    .default([]),
  services: z
    .array(
      z.object({
        namespace: z.string().min(1),
        name: z.string().min(1),
        clusterIPs: z.array(z.string().ip()).default([]),
        ports: z.array(z.object({ port: z.number().int().min(0).max(65535), protocol: z.string().default("TCP") })).default([]),
        selector: z.record(z.string()).optional(),
      }),
    )
    .default([]),
});

export type MetadataFile = z.input<typeof metadataSchema>;

/** Parses and validates the file's text; errors name the file and the JSON path of each problem. */
export function parseMetadataFile(text: string, file: string): { pods: (PodInfo & { cgroupPath?: string })[]; services: ServiceInfo[] } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`metadata file ${file}: not valid JSON (${(e as Error).message}); the lab writes it, check what wrote this file`);
  }
  const parsed = metadataSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new Error(`metadata file ${file}: ${problems}; see "Lab pod metadata file" in docs/DEVELOPING.md`);
  }
  return {
    pods: parsed.data.pods.map((p) => ({
      namespace: p.namespace,
      name: p.name,
      node: p.node,
      labels: p.labels,
      workloads: p.workload ? [p.workload] : [],
      ips: p.ips,
      cgroupPath: p.cgroupPath,
    })),
    services: parsed.data.services.map((s) => ({ namespace: s.namespace, name: s.name, clusterIPs: s.clusterIPs, ports: s.ports })),
  };
}

/** The cgroup v2 id of a cgroup directory is its inode number. */
function cgroupIdOf(dir: string): bigint | undefined {
  try {
    return fs.statSync(dir, { bigint: true }).ino;
  } catch {
    return undefined;
  }
}

export interface MetadataFileOptions {
  file: string;
  /** Called with a message when a reload fails; the last good view stays in use. */
  onError?: (err: Error) => void;
  /** How often cgroup paths that did not exist yet are looked up again. @default 1000 */
  retryMs?: number;
}

export class MetadataFileEnrichment implements Enrichment {
  private readonly index = new EndpointIndex();
  private readonly file: string;
  private readonly onError: (err: Error) => void;
  private watcher?: fs.FSWatcher;
  private reloadTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private lastText?: string;
  private unresolved = false;
  synced = false;

  constructor(private readonly options: MetadataFileOptions) {
    this.file = path.resolve(options.file);
    this.onError = options.onError ?? (() => undefined);
  }

  /** Loads the file if it exists and starts watching for rewrites; a missing directory is an error. */
  start(): this {
    const dir = path.dirname(this.file);
    if (!fs.existsSync(dir)) {
      throw new Error(`--metadata-file ${this.file}: directory ${dir} does not exist; create it or point the flag at the lab's file`);
    }
    this.watcher = fs.watch(dir, (_event, name) => {
      if (name === null || name === path.basename(this.file)) this.scheduleReload();
    });
    this.watcher.on("error", (err) => this.onError(err));
    this.reload();
    const retryMs = this.options.retryMs ?? 1000;
    this.retryTimer = setInterval(() => {
      if (this.unresolved) this.reload(true);
    }, retryMs);
    this.retryTimer.unref();
    return this;
  }

  private scheduleReload(): void {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.reload(), 20);
  }

  private reload(force = false): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") this.onError(new Error(`metadata file ${this.file}: ${(e as Error).message}`));
      return;
    }
    if (!force && text === this.lastText) return;
    try {
      const data = parseMetadataFile(text, this.file);
      let unresolved = false;
      const pods = data.pods.map(({ cgroupPath, ...pod }) => {
        const id = cgroupPath ? cgroupIdOf(cgroupPath) : undefined;
        if (cgroupPath && id === undefined) unresolved = true;
        return { pod, cgroupIds: id === undefined ? [] : [id] };
      });
      this.index.replaceAll(pods, data.services);
      this.lastText = text;
      this.unresolved = unresolved;
      this.synced = true;
    } catch (e) {
      this.onError(e as Error);
    }
  }

  podByCgroup(cgroupId: bigint): PodInfo | undefined {
    return this.index.podByCgroup(cgroupId);
  }

  podByIp(ip: string): PodInfo | undefined {
    return this.index.podByIp(ip);
  }

  serviceByIp(ip: string): ServiceInfo | undefined {
    return this.index.serviceByIpAddress(ip);
  }

  async close(): Promise<void> {
    this.watcher?.close();
    clearTimeout(this.reloadTimer);
    clearInterval(this.retryTimer);
  }
}
