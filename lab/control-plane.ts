// The observability stack on top of the lab: one agent per node (observing
// that node's cgroup subtree), a relay with every agent as a peer, and the
// UI, all speaking mTLS with certificates made by `flowlens certs`.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { LabPlan, NodePlan } from "./plan";
import { startProcess, waitFor } from "./processes";
import type { StateFile } from "./state";
import { LabError } from "./errors";

const REPO = path.resolve(__dirname, "..");
const FLOWLENS = path.join(REPO, "bin", "flowlens");

export type Component = "agent" | "relay" | "ui";

const ENTRY: Record<Component, string> = { agent: "agent/main.ts", relay: "relay/main.ts", ui: "ui/server/main.ts" };

/** Components whose code is present in this checkout. */
export function availableComponents(): Component[] {
  return (Object.keys(ENTRY) as Component[]).filter((c) => fs.existsSync(path.join(REPO, ENTRY[c])));
}

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

export function accepting(address: string): Promise<boolean> {
  const { host, port } = hostPort(address);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(500);
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => (socket.destroy(), resolve(false)));
  });
}

export interface Certificates { dir: string; server: string; client: string }

export async function makeCertificates(plan: LabPlan): Promise<Certificates> {
  const dir = path.join(plan.dir, "certs");
  const names = ["localhost", hostPort(plan.options.relayAddress).host, ...plan.nodes.map((n) => hostPort(n.agentAddress).host)];
  const { run } = await import("../cli/commands/certs");
  const code = await run(["--out", dir, "--force", ...[...new Set(names)].flatMap((n) => ["--server-name", n]), "--client-name", "flowlens-lab"]);
  if (code !== 0) throw new LabError(`creating certificates in ${dir} failed (see the message above)`);
  return { dir, server: path.join(dir, "server"), client: path.join(dir, "client") };
}

function agentArgs(plan: LabPlan, node: NodePlan, certs: Certificates, cgroupRoot: string): string[] {
  return [
    "agent",
    "--node-name", node.name,
    "--listen-address", node.agentAddress,
    "--metrics-address", `${hostPort(node.agentAddress).host}:9965`,
    "--cgroup-root", cgroupRoot,
    // The node's masquerade runs in its namespace, where the NAT hook has to be.
    "--egress-nat-netns", `/run/netns/${node.netns}`,
    "--metadata-file", plan.metadataFile,
    "--tls-cert", path.join(certs.server, "tls.crt"),
    "--tls-key", path.join(certs.server, "tls.key"),
    "--tls-client-ca", path.join(certs.server, "ca.crt"),
  ];
}

/** Starts `node`'s agent observing `cgroupRoot` (the node's whole group, or one replica copy's group on it). */
export function startAgent(plan: LabPlan, state: StateFile, node: NodePlan, certs: Certificates, cgroupRoot = node.cgroup): number {
  return startProcess(state, {
    what: `agent ${node.name}`,
    nice: plan.options.nice,
    cgroup: path.join(plan.systemCgroup, `agent-${node.name}`),
    logFile: path.join(plan.dir, "logs", `agent-${node.name}.log`),
    // The V8 setting the chart gives the agent (charts/flowlens/templates/agent/daemonset.yaml), so the lab runs it as a node does.
    command: ["env", "NODE_OPTIONS=--max-semi-space-size=1", FLOWLENS, ...agentArgs(plan, node, certs, cgroupRoot)],
  });
}

export async function waitForAgents(plan: LabPlan, pids: number[]): Promise<void> {
  for (const [i, node] of plan.nodes.entries()) {
    await waitFor(`agent on ${node.name} (${node.agentAddress})`, () => accepting(node.agentAddress), 60_000,
      path.join(plan.dir, "logs", `agent-${node.name}.log`), pids[i]);
  }
}

export function startRelay(plan: LabPlan, state: StateFile, certs: Certificates): number {
  const relayHost = hostPort(plan.options.relayAddress).host;
  return startProcess(state, {
    what: "relay",
    nice: plan.options.nice,
    cgroup: path.join(plan.systemCgroup, "relay"),
    logFile: path.join(plan.dir, "logs", "relay.log"),
    command: [
      FLOWLENS, "relay",
      "--listen-address", plan.options.relayAddress,
      "--metrics-address", `${relayHost}:9966`,
      "--peers", plan.nodes.map((n) => n.agentAddress).join(","),
      "--peer-tls-ca", path.join(certs.client, "ca.crt"),
      "--peer-tls-cert", path.join(certs.client, "tls.crt"),
      "--peer-tls-key", path.join(certs.client, "tls.key"),
      "--tls-cert", path.join(certs.server, "tls.crt"),
      "--tls-key", path.join(certs.server, "tls.key"),
      "--tls-client-ca", path.join(certs.server, "ca.crt"),
      "--history-dir", path.join(plan.dir, "history"),
    ],
  });
}

/** The UI's sign-in token, readable by root only; the lab prints it for the user. */
export function makeUiToken(plan: LabPlan): string {
  const file = path.join(plan.dir, "ui-token");
  fs.writeFileSync(file, `${randomBytes(24).toString("hex")}\n`, { mode: 0o600 });
  return file;
}

export function startUi(plan: LabPlan, state: StateFile, certs: Certificates, tokenFile: string): number {
  return startProcess(state, {
    what: "ui",
    cgroup: path.join(plan.systemCgroup, "ui"),
    logFile: path.join(plan.dir, "logs", "ui.log"),
    command: [
      FLOWLENS, "ui",
      "--listen-address", plan.options.uiAddress,
      "--relay", plan.options.relayAddress,
      "--relay-tls-ca", path.join(certs.client, "ca.crt"),
      "--relay-tls-cert", path.join(certs.client, "tls.crt"),
      "--relay-tls-key", path.join(certs.client, "tls.key"),
      "--auth-token-file", tokenFile,
    ],
  });
}

/** Flags for `flowlens observe|status` against this lab's relay. */
export function clientFlags(plan: LabPlan, certs: Certificates): string[] {
  return [
    "--server", plan.options.relayAddress,
    "--tls-ca", path.join(certs.client, "ca.crt"),
    "--tls-cert", path.join(certs.client, "tls.crt"),
    "--tls-key", path.join(certs.client, "tls.key"),
  ];
}
