// The replica's processes: one per pod (redis-server for redis-cart, the
// bundled replica program for the rest), an optional HAProxy sidecar per
// pod, and the external test host.
import { buildSync } from "esbuild";
import * as fs from "node:fs";
import * as path from "node:path";
import { EXTERNAL_PORT, INTERNET_HOST, PEERED_HOST, type LabPlan, type PodPlan } from "./plan";
import { SIDECAR_INBOUND_PORT, SIDECAR_OUTBOUND_PORT, SIDECAR_UID } from "./nftables";
import { NOBODY, startProcess, waitFor } from "./processes";
import { haproxyConfig } from "./sidecar";
import type { StateFile } from "./state";
import { run } from "./system";
import { addressVariable } from "./topology";

/** Bundles the replica into one file so each of the dozen pods starts quickly and lean. */
export function bundleReplica(plan: LabPlan): string {
  const out = path.join(plan.dir, "replica");
  fs.mkdirSync(out, { recursive: true, mode: 0o755 });
  buildSync({
    entryPoints: [path.join(__dirname, "replica", "main.ts")],
    bundle: true,
    platform: "node",
    target: "node20",
    outfile: path.join(out, "main.js"),
    logLevel: "error",
  });
  fs.copyFileSync(path.join(__dirname, "replica", "boutique.proto"), path.join(out, "boutique.proto"));
  for (const f of ["main.js", "boutique.proto"]) fs.chmodSync(path.join(out, f), 0o644);
  fs.chmodSync(plan.dir, 0o755);
  return path.join(out, "main.js");
}

/** The `*_ADDR` variables of `copy`'s Services (with two copies each pod calls its own copy only). */
function serviceEnvironment(plan: LabPlan, copy: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of plan.pods) if (p.service && p.copy === copy) env[addressVariable(p.service.name)] = `${p.service.clusterIp}:${p.service.port}`;
  return env;
}

export interface LoadSettings {
  /** Steady requests per second of the lab's load generator. */
  rate: number;
  /** Benchmark only: a Unix socket on which the load generator runs blocks on request instead of steady load. */
  control?: string;
}

/**
 * Niceness steps by which the load generator outranks the replica: latencies
 * run from each request's scheduled start, so a load generator waiting for a
 * core would charge its own wait to the replica. Every configuration gets the same.
 */
const LOAD_GENERATOR_PRIORITY = 5;

/** Starts a pod's application process. */
export function startApp(plan: LabPlan, state: StateFile, pod: PodPlan, replica: string, load: LoadSettings): number {
  const logFile = path.join(plan.dir, "logs", `${pod.name}.log`);
  if (pod.app === "redis-cart") {
    return startProcess(state, {
      what: `${pod.name} redis-server`, cgroup: pod.cgroup, netns: pod.netns, uid: NOBODY, nice: plan.options.nice, logFile,
      command: ["redis-server", "--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", "/tmp", "--maxmemory", "64mb"],
    });
  }
  const env: Record<string, string> = { ...serviceEnvironment(plan, pod.copy), NODE_ENV: "production" };
  if (pod.service) env.PORT = String(pod.service.targetPort);
  if (pod.app === "loadgenerator") {
    env.LOAD_RATE = String(load.rate);
    if (load.control) env.LOAD_CONTROL = load.control;
    env.EGRESS_TARGETS = [PEERED_HOST, INTERNET_HOST].map((h) => `${h}:${EXTERNAL_PORT}`).join(",");
  }
  return startProcess(state, {
    what: `${pod.name} replica`, cgroup: pod.cgroup, netns: pod.netns, uid: NOBODY, logFile, env,
    nice: pod.app === "loadgenerator" ? Math.max(-20, plan.options.nice - LOAD_GENERATOR_PRIORITY) : plan.options.nice,
    // No heap cap: with --max-old-space-size=64 V8 keeps the old generation small and collects it more often
    // (a 40 s trace at 25 req/s: 20 full collections of 2-70 ms with it, 5 without); memory is plentiful.
    command: [process.execPath, replica, pod.app],
  });
}

export function startSidecar(plan: LabPlan, state: StateFile, pod: PodPlan): number {
  const config = path.join(plan.dir, "sidecars", `${pod.name}.cfg`);
  fs.mkdirSync(path.dirname(config), { recursive: true, mode: 0o755 });
  fs.writeFileSync(config, haproxyConfig(pod.name), { mode: 0o644 });
  return startProcess(state, {
    what: `${pod.name} sidecar`, cgroup: pod.cgroup, netns: pod.netns, uid: SIDECAR_UID, nice: plan.options.nice,
    logFile: path.join(plan.dir, "logs", `${pod.name}-sidecar.log`),
    command: ["haproxy", "-db", "-f", config],
  });
}

export function startExternalHost(plan: LabPlan, state: StateFile, replica: string): number {
  return startProcess(state, {
    what: "external host", cgroup: path.join(plan.systemCgroup, "external"), netns: plan.externalNetns, uid: NOBODY,
    logFile: path.join(plan.dir, "logs", "external.log"), env: { PORT: String(EXTERNAL_PORT) },
    command: [process.execPath, "--max-old-space-size=32", replica, "external"],
  });
}

function listening(netns: string, port: number): boolean {
  return run("ip", ["netns", "exec", netns, "ss", "-Hltn", `sport = :${port}`]).trim() !== "";
}

/** Waits until every pod, the sidecars of `withSidecars` and the external host accept connections. */
export async function waitForPods(plan: LabPlan, withSidecars: PodPlan[], timeoutMs = 60_000): Promise<void> {
  for (const pod of plan.pods) {
    const sidecar = withSidecars.includes(pod);
    const ports = [...(pod.service ? [pod.service.targetPort] : []), ...(sidecar ? [SIDECAR_OUTBOUND_PORT, SIDECAR_INBOUND_PORT] : [])];
    for (const port of ports) {
      await waitFor(`${pod.name} port ${port}`, () => listening(pod.netns, port), timeoutMs, path.join(plan.dir, "logs", `${pod.name}.log`));
    }
  }
  await waitFor("external host", () => listening(plan.externalNetns, EXTERNAL_PORT), timeoutMs, path.join(plan.dir, "logs", "external.log"));
}
