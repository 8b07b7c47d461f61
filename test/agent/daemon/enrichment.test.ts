// Both enrichment sources: the lab's metadata file (real files, real cgroups)
// and the Kubernetes API watch client (against a local HTTPS endpoint that
// speaks the list/watch protocol, since no API server runs on this machine).
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { run as certs } from "../../../cli/commands/certs";
import { MetadataFileEnrichment, parseMetadataFile } from "../../../agent/enrichment/metadata-file";
import { findPodCgroups, KubernetesEnrichment, workloadsOf } from "../../../agent/enrichment/kubernetes";
import { inClusterConfig } from "../../../agent/enrichment/kubernetes-client";
import { recordResource, releaseResource } from "../../support/test-resources";

const CGROUP_V2 = "/sys/fs/cgroup/unified";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-enrich-"));
const cgroupBase = path.join(CGROUP_V2, `flenrich-${randomBytes(3).toString("hex")}`);
recordResource("cgroup", cgroupBase);

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  // Deepest first: cgroup directories can only be removed empty.
  const dirs: string[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    dirs.push(d);
  };
  walk(cgroupBase);
  for (const d of dirs) fs.rmdirSync(d);
  releaseResource("cgroup", cgroupBase);
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function writeAtomically(file: string, data: unknown): void {
  const temp = `${file}.tmp-${randomBytes(2).toString("hex")}`;
  fs.writeFileSync(temp, JSON.stringify(data));
  fs.renameSync(temp, file);
}

describe("metadata file enrichment", () => {
  test("pods resolve by cgroup id and IP, services by cluster IP, and rewrites are picked up", async () => {
    fs.mkdirSync(path.join(cgroupBase, "web"), { recursive: true });
    const webId = fs.statSync(path.join(cgroupBase, "web"), { bigint: true }).ino;
    const file = path.join(tmp, "pods.json");
    const errors: string[] = [];
    const source = new MetadataFileEnrichment({ file, onError: (e) => errors.push(e.message), retryMs: 50 }).start();
    try {
      expect(source.synced).toBe(false);
      writeAtomically(file, {
        pods: [
          { namespace: "shop", name: "web", labels: { app: "web" }, workload: { name: "web", kind: "Deployment" }, ips: ["198.18.1.10"], cgroupPath: path.join(cgroupBase, "web") },
          { namespace: "shop", name: "db", ips: ["198.18.1.20"], cgroupPath: path.join(cgroupBase, "db") },
        ],
        services: [{ namespace: "shop", name: "db", clusterIPs: ["198.18.1.200"], ports: [{ port: 5432, protocol: "TCP" }] }],
      });
      await until(() => source.synced, "the first load");
      expect(source.podByCgroup(webId)).toMatchObject({ namespace: "shop", name: "web", labels: { app: "web" }, workloads: [{ name: "web", kind: "Deployment" }] });
      expect(source.podByIp("198.18.1.20")?.name).toBe("db");
      expect(source.serviceByIp("198.18.1.200")?.name).toBe("db");

      // db's cgroup appears after the file named it: found on a retry.
      fs.mkdirSync(path.join(cgroupBase, "db"));
      const dbId = fs.statSync(path.join(cgroupBase, "db"), { bigint: true }).ino;
      await until(() => source.podByCgroup(dbId)?.name === "db", "the late cgroup");

      writeAtomically(file, { pods: [{ namespace: "shop", name: "web-2", ips: ["198.18.1.11"] }] });
      await until(() => source.podByIp("198.18.1.11") !== undefined, "the rewrite");
      expect(source.podByIp("198.18.1.10")).toBeUndefined();
      expect(source.podByCgroup(webId)).toBeUndefined();
      expect(source.serviceByIp("198.18.1.200")).toBeUndefined();

      // A broken rewrite is reported and the last good view stays.
      writeAtomically(file, { pods: [{ namespace: "shop", ips: ["not-an-ip"] }] });
      await until(() => errors.length > 0, "the error report");
      expect(errors[0]).toMatch(/metadata file .*pods\.json: pods\.0\.name: Required; pods\.0\.ips\.0: Invalid ip/);
      expect(source.podByIp("198.18.1.11")?.name).toBe("web-2");
    } finally {
      await source.close();
    }
  });

  test("a file that is not JSON is reported with the file name", () => {
    expect(() => parseMetadataFile("{pods:", "/x/pods.json")).toThrow(/metadata file \/x\/pods\.json: not valid JSON/);
  });

  test("a missing directory is refused at start", () => {
    expect(() => new MetadataFileEnrichment({ file: path.join(tmp, "nope", "pods.json") }).start()).toThrow(/directory .* does not exist/);
  });
});

describe("Kubernetes enrichment", () => {
  test("workloads: a Deployment's ReplicaSet is reported as the Deployment", () => {
    const owned = (kind: string, name: string, labels: Record<string, string> = {}) => ({ metadata: { labels, ownerReferences: [{ kind, name, controller: true }] } });
    expect(workloadsOf(owned("ReplicaSet", "web-7d9c8f", { "pod-template-hash": "7d9c8f" }))).toEqual([{ kind: "Deployment", name: "web" }]);
    expect(workloadsOf(owned("ReplicaSet", "bare-rs"))).toEqual([{ kind: "ReplicaSet", name: "bare-rs" }]);
    expect(workloadsOf(owned("StatefulSet", "db"))).toEqual([{ kind: "StatefulSet", name: "db" }]);
    expect(workloadsOf({ metadata: {} })).toEqual([]);
  });

  test("pod cgroups are found under both kubelet cgroup drivers", () => {
    const uidA = "0a1b2c3d-0000-4000-8000-00000000000a";
    const uidB = "0a1b2c3d-0000-4000-8000-00000000000b";
    const a = path.join(cgroupBase, "kubepods", "burstable", `pod${uidA}`);
    const b = path.join(cgroupBase, "kubepods.slice", "kubepods-besteffort.slice", `kubepods-besteffort-pod${uidB.replace(/-/g, "_")}.slice`);
    fs.mkdirSync(path.join(a, "c0ffee"), { recursive: true });
    fs.mkdirSync(path.join(b, "cri-containerd-beef.scope"), { recursive: true });
    const found = findPodCgroups(cgroupBase, [uidA, uidB, "ffffffff-0000-4000-8000-000000000000"]);
    const ino = (p: string) => fs.statSync(p, { bigint: true }).ino;
    expect(found.get(uidA)).toEqual([ino(a), ino(path.join(a, "c0ffee"))]);
    expect(found.get(uidB)).toEqual([ino(b), ino(path.join(b, "cri-containerd-beef.scope"))]);
    expect(found.size).toBe(2);
  });

  test("in-cluster configuration errors say what is missing", () => {
    expect(() => inClusterConfig({})).toThrow(/KUBERNETES_SERVICE_HOST is not set/);
    expect(() => inClusterConfig({ KUBERNETES_SERVICE_HOST: "10.0.0.1" }, path.join(tmp, "no-sa"))).toThrow(/cannot read .*ca\.crt/);
  });

  test("lists, then follows watch events, and relists after 410 Gone", async () => {
    const certDir = path.join(tmp, "certs");
    const quiet = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      await certs(["--out", certDir]);
    } finally {
      quiet.mockRestore();
    }
    const saDir = path.join(tmp, "sa");
    fs.mkdirSync(saDir);
    fs.copyFileSync(path.join(certDir, "ca/ca.crt"), path.join(saDir, "ca.crt"));
    fs.writeFileSync(path.join(saDir, "token"), "secret-token\n");

    const uid = "0a1b2c3d-0000-4000-8000-0000000000c1";
    fs.mkdirSync(path.join(cgroupBase, "kp", `pod${uid}`, "ctr"), { recursive: true });
    const pod = (name: string, ip: string, node: string, podUid: string, rv: string) => ({
      metadata: { name, namespace: "shop", uid: podUid, resourceVersion: rv, labels: { app: name } },
      spec: { nodeName: node },
      status: { podIP: ip, podIPs: [{ ip }] },
    });
    let allPods = [pod("local", "10.4.0.5", "n1", uid, "5"), pod("remote", "10.4.1.7", "n2", "other-uid", "6")];
    const watchers = new Map<string, import("node:http").ServerResponse[]>();
    const requests: string[] = [];
    const server = https.createServer({ cert: fs.readFileSync(path.join(certDir, "server/tls.crt")), key: fs.readFileSync(path.join(certDir, "server/tls.key")) }, (req, res) => {
      if (req.headers.authorization !== "Bearer secret-token") {
        res.writeHead(401).end();
        return;
      }
      const url = new URL(req.url!, "https://x");
      requests.push(`${url.pathname}?${url.searchParams.toString()}`);
      const nodeScoped = url.searchParams.get("fieldSelector") === "spec.nodeName=n1";
      const key = `${url.pathname}${nodeScoped ? "#node" : ""}`;
      if (url.searchParams.get("watch") === "1") {
        res.writeHead(200, { "Content-Type": "application/json" });
        watchers.set(key, [...(watchers.get(key) ?? []), res]);
        return;
      }
      const items = url.pathname === "/api/v1/services"
        ? [{ metadata: { name: "db", namespace: "shop", resourceVersion: "3" }, spec: { clusterIPs: ["10.8.0.10"], ports: [{ port: 5432 }] } }]
        : allPods.filter((p) => !nodeScoped || p.spec.nodeName === "n1");
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ metadata: { resourceVersion: "10" }, items }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const send = (key: string, event: unknown) => {
      for (const w of watchers.get(key) ?? []) w.write(`${JSON.stringify(event)}\n`);
    };

    const errors: string[] = [];
    const config = inClusterConfig({ KUBERNETES_SERVICE_HOST: "localhost", KUBERNETES_SERVICE_PORT: String(port) }, saDir);
    const source = new KubernetesEnrichment({ config, nodeName: "n1", cgroupRoot: cgroupBase, onError: (e) => errors.push(e.message), rescanMs: 100 }).start();
    try {
      await until(() => source.synced, "the initial lists");
      expect(source.podByIp("10.4.1.7")?.name).toBe("remote");
      expect(source.serviceByIp("10.8.0.10")?.name).toBe("db");
      const ctrId = fs.statSync(path.join(cgroupBase, "kp", `pod${uid}`, "ctr"), { bigint: true }).ino;
      expect(source.podByCgroup(ctrId)?.name).toBe("local");
      expect(requests).toContain("/api/v1/pods?fieldSelector=spec.nodeName%3Dn1");

      await until(() => watchers.get("/api/v1/pods")?.length === 1, "the pod watch");
      send("/api/v1/pods", { type: "ADDED", object: pod("new", "10.4.2.9", "n3", "u3", "11") });
      await until(() => source.podByIp("10.4.2.9") !== undefined, "the ADDED event");
      send("/api/v1/pods", { type: "DELETED", object: pod("remote", "10.4.1.7", "n2", "other-uid", "12") });
      await until(() => source.podByIp("10.4.1.7") === undefined, "the DELETED event");

      // The server forgot our version: the client relists and sees the current state.
      allPods = [pod("local", "10.4.0.5", "n1", uid, "5"), pod("after-relist", "10.4.3.3", "n2", "u4", "20")];
      send("/api/v1/pods", { type: "ERROR", object: { kind: "Status", code: 410, message: "too old resource version" } });
      await until(() => source.podByIp("10.4.3.3") !== undefined, "the relist");
      expect(source.podByIp("10.4.2.9")).toBeUndefined();
      expect(requests.filter((r) => r === "/api/v1/pods?").length).toBe(2);
      expect(errors).toEqual([]);
    } finally {
      await source.close();
      for (const list of watchers.values()) for (const w of list) w.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
