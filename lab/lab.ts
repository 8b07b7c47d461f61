// Bringing the lab up and down. `up` records each resource in the state file
// before creating it; `down` removes everything recorded plus anything the
// plan says could exist, so a crashed or interrupted lab is cleaned up too.
import * as fs from "node:fs";
import * as path from "node:path";
import { killCgroupTree, makeCgroup, removeCgroupTree } from "./cgroups";
import * as control from "./control-plane";
import { writeMetadata } from "./metadata";
import { createFabric, createNode, createPod, deleteNetns, existingNetns } from "./network";
import { loadTable, nodeRuleset, podRuleset } from "./nftables";
import { DEFAULT_OPTIONS, makePlan, PEERED_CIDR, podByApp, RUN_DIR, type LabOptions, type LabPlan } from "./plan";
import { isAlive, waitFor } from "./processes";
import { StateFile } from "./state";
import { tryRun } from "./system";
import { bundleReplica, startApp, startExternalHost, startSidecar, waitForPods, type LoadSettings } from "./workloads";
export type Progress = (step: string) => void;

export interface RunningLab {
  plan: LabPlan;
  state: StateFile;
  certs?: control.Certificates;
  uiTokenFile?: string;
}

/** Network, cgroups, NAT and Service rules, and the metadata file: everything but processes. */
export function createInfrastructure(plan: LabPlan, state: StateFile, progress: Progress): void {
  fs.mkdirSync(plan.dir, { recursive: true, mode: 0o755 });
  progress(`cgroups under ${plan.cgroupRoot}`);
  makeCgroup(state, plan.cgroupRoot);
  makeCgroup(state, plan.systemCgroup);
  for (const node of plan.nodes) makeCgroup(state, node.cgroup);
  for (const pod of plan.pods) {
    if (path.dirname(pod.cgroup) !== pod.node.cgroup) makeCgroup(state, path.dirname(pod.cgroup));
    makeCgroup(state, pod.cgroup);
  }

  progress(`fabric bridge and external host (${plan.fabricNetns}, ${plan.externalNetns})`);
  createFabric(plan, state);
  const noSnat = [...new Set([PEERED_CIDR, ...plan.options.noSnatCidrs])];
  for (const node of plan.nodes) {
    progress(`node ${node.name}: bridge cbr0 ${node.podCidr}, egress NAT (no SNAT to ${noSnat.join(", ")})`);
    createNode(plan, state, node);
    loadTable(state, node.netns, nodeRuleset(node, noSnat));
  }
  progress(`${plan.pods.length} pods as network namespaces with Service rules`);
  for (const pod of plan.pods) {
    createPod(state, pod);
    loadTable(state, pod.netns, podRuleset(plan, pod, plan.options.sidecars));
  }
  writeMetadata(plan);
}

/** Starts every pod's process (and sidecar), the external host, and waits until all listen. */
export async function startReplica(plan: LabPlan, state: StateFile, load: LoadSettings, progress: Progress, startLoad = true): Promise<void> {
  progress("bundling the replica services");
  const replica = bundleReplica(plan);
  progress(`starting ${plan.pods.length} pods${plan.options.sidecars ? " with HAProxy sidecars" : ""} and the external host`);
  startExternalHost(plan, state, replica);
  for (const pod of plan.pods) {
    if (plan.options.sidecars) startSidecar(plan, state, pod);
    if (pod.app !== "loadgenerator") startApp(plan, state, pod, replica, load);
  }
  await waitForPods(plan, plan.options.sidecars ? plan.pods : []);
  if (startLoad) startLoadGenerator(plan, state, load);
}

/** Starts the load generator pod's process (after the replica it drives is ready). */
export function startLoadGenerator(plan: LabPlan, state: StateFile, load: LoadSettings): void {
  startApp(plan, state, podByApp(plan, "loadgenerator"), path.join(plan.dir, "replica", "main.js"), load);
}

/** Starts the agents, relay and UI that exist in this checkout. */
export async function startControlPlane(lab: RunningLab, progress: Progress): Promise<void> {
  const components = control.availableComponents();
  const { plan, state } = lab;
  if (components.length === 0) return;
  progress("mTLS certificates");
  const certs = await control.makeCertificates(plan);
  lab.certs = certs;
  if (components.includes("agent")) {
    progress(`agents on ${plan.nodes.map((n) => `${n.name} (${n.agentAddress})`).join(", ")}`);
    const pids = plan.nodes.map((node) => control.startAgent(plan, state, node, certs));
    await control.waitForAgents(plan, pids);
    state.update((s) => s.endpoints.agents.push(...plan.nodes.map((n) => n.agentAddress)));
  }
  if (components.includes("relay")) {
    progress(`relay on ${plan.options.relayAddress}`);
    const pid = control.startRelay(plan, state, certs);
    await waitForListen("relay", plan.options.relayAddress, plan, pid);
    state.update((s) => (s.endpoints.relay = plan.options.relayAddress));
  }
  if (components.includes("ui") && components.includes("relay")) {
    progress(`UI on ${plan.options.uiAddress}`);
    const tokenFile = control.makeUiToken(plan);
    const pid = control.startUi(plan, state, certs, tokenFile);
    lab.uiTokenFile = tokenFile;
    await waitForListen("ui", plan.options.uiAddress, plan, pid);
    state.update((s) => (s.endpoints.ui = `http://${plan.options.uiAddress}/`));
  }
  state.update((s) => (s.components = components));
}

function waitForListen(what: string, address: string, plan: LabPlan, pid: number): Promise<void> {
  return waitFor(`${what} on ${address}`, () => control.accepting(address), 60_000, path.join(plan.dir, "logs", `${what}.log`), pid);
}

export function resolveOptions(partial: Partial<LabOptions>): LabOptions {
  return { ...DEFAULT_OPTIONS, ...partial };
}

export async function up(options: LabOptions, progress: Progress): Promise<RunningLab> {
  const plan = makePlan(options);
  if (fs.existsSync(plan.stateFile) || fs.existsSync(plan.cgroupRoot) || existingNetns().has(plan.fabricNetns)) {
    progress(`removing the leftovers of an earlier lab "${options.name}"`);
    await down(options.name, () => undefined);
  }
  const state = StateFile.create(plan.stateFile, options.name, plan.dir, options.sidecars);
  const lab: RunningLab = { plan, state };
  try {
    createInfrastructure(plan, state, progress);
    await startReplica(plan, state, { rate: options.loadRate }, progress);
    if (!options.replicaOnly) await startControlPlane(lab, progress);
  } catch (err) {
    progress("start failed; removing what was created");
    await down(options.name, () => undefined);
    throw err;
  }
  return lab;
}

/** Names the lab could have created, whether or not a state file survives. */
function plannedNetns(name: string): string[] {
  return [1, 2].flatMap((copies) => {
    const widest = makePlan({ ...DEFAULT_OPTIONS, name, nodes: 8, copies });
    return [widest.fabricNetns, widest.externalNetns, ...widest.nodes.map((n) => n.netns), ...widest.pods.map((p) => p.netns)];
  });
}

export async function down(name: string, progress: Progress): Promise<void> {
  const plan = makePlan({ ...DEFAULT_OPTIONS, name });
  const state = StateFile.load(plan.stateFile);
  progress("stopping processes");
  await killCgroupTree(plan.cgroupRoot);
  for (const p of state?.state.processes ?? []) {
    if (isAlive(p.pid) && fs.existsSync(`/proc/${p.pid}/cgroup`) && fs.readFileSync(`/proc/${p.pid}/cgroup`, "utf8").includes(`/${name}/`)) {
      process.kill(p.pid, "SIGKILL");
    }
  }
  const present = existingNetns();
  progress("removing nftables tables");
  for (const t of state?.state.nftTables ?? []) {
    if (present.has(t.netns)) tryRun("ip", ["netns", "exec", t.netns, "nft", "delete", "table", t.family, t.table]);
  }
  progress("removing network namespaces (and the links and bridges in them)");
  for (const ns of new Set([...(state?.state.netns ?? []), ...plannedNetns(name)])) {
    if (present.has(ns)) deleteNetns(ns);
  }
  progress(`removing cgroups under ${plan.cgroupRoot}`);
  removeCgroupTree(plan.cgroupRoot);
  fs.rmSync(plan.dir, { recursive: true, force: true });
  fs.rmSync(plan.stateFile, { force: true });
  if (fs.existsSync(RUN_DIR) && fs.readdirSync(RUN_DIR).length === 0) fs.rmdirSync(RUN_DIR);
}

