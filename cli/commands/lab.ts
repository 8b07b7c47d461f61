// `flowlens lab up|down|status`: the local lab. `up` stays in the foreground
// until Ctrl-C (then tears everything down) unless --detach is given.
import * as fs from "node:fs";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { parseEnvironment } from "../../environments/load";
import { down, resolveOptions, up, type RunningLab } from "../../lab/lab";
import { makePlan, DEFAULT_OPTIONS, type LabOptions } from "../../lab/plan";
import { clientFlags } from "../../lab/control-plane";
import { isAlive } from "../../lab/processes";
import { StateFile } from "../../lab/state";
import { CommandError, reportError, UsageError } from "../lib/errors";
import { boolFlag, envName, parseFlags, stringFlag } from "../lib/flags";
import { LabError } from "../../lab/errors";

const FLAGS = {
  name: { type: "string" },
  nodes: { type: "string" },
  environment: { type: "string" },
  sidecars: { type: "boolean" },
  "replica-only": { type: "boolean" },
  "load-rate": { type: "string" },
  "relay-address": { type: "string" },
  "ui-address": { type: "string" },
  "agent-loopback": { type: "string" },
  detach: { type: "boolean", short: "d" },
  help: { type: "boolean", short: "h" },
} as const;

const HELP = `usage: flowlens lab up|down|status [flags]

up      builds the lab (pods as network namespaces and cgroups on per-node
        bridges, an Online Boutique topology replica, egress NAT, agents, relay
        and UI) and runs until Ctrl-C, then removes it; --detach leaves it running
down    removes every namespace, cgroup, nft table, link and process of the lab
status  lists the lab's components and endpoints, and any process that exited

  --name NAME             lab name, prefix of its namespaces (default ${DEFAULT_OPTIONS.name})
  --nodes N               nodes, each with its own bridge and agent (default ${DEFAULT_OPTIONS.nodes})
  --environment FILE      environment template whose platform.egressNat.destinations
                          are reached without SNAT
  --sidecars              give every pod an HAProxy sidecar (Istio-style redirection)
  --replica-only          start no agents, relay or UI (network and replica only)
  --load-rate N           load generator requests per second (default ${DEFAULT_OPTIONS.loadRate})
  --relay-address A       relay listen address (default ${DEFAULT_OPTIONS.relayAddress})
  --ui-address A          UI listen address (default ${DEFAULT_OPTIONS.uiAddress})
  --agent-loopback P      first three octets of the agents' loopback addresses (default ${DEFAULT_OPTIONS.agentLoopback})
  -d, --detach            return once the lab is up
`;

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new CommandError("the lab creates network namespaces and cgroups and must run as root; run it with sudo");
}

function loopbackAddress(value: string, flag: string): string {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}:\d{1,5}$/.test(value)) {
    throw new UsageError(`--${flag} "${value}" must be a loopback host:port such as 127.0.0.1:4245 (the lab serves nothing off this machine)`);
  }
  return value;
}

function options(flags: ReturnType<typeof parseFlags>): LabOptions {
  const o: Partial<LabOptions> = {};
  const name = stringFlag(flags, "name");
  if (name !== undefined) o.name = name;
  const nodes = stringFlag(flags, "nodes");
  if (nodes !== undefined) {
    if (!/^\d+$/.test(nodes)) throw new UsageError(`--nodes "${nodes}" is not a whole number; use 2 to 8`);
    o.nodes = Number(nodes);
  }
  const rate = stringFlag(flags, "load-rate");
  if (rate !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(rate) || Number(rate) <= 0) throw new UsageError(`--load-rate "${rate}" is not a positive number of requests per second`);
    o.loadRate = Number(rate);
  }
  const relay = stringFlag(flags, "relay-address");
  if (relay !== undefined) o.relayAddress = loopbackAddress(relay, "relay-address");
  const ui = stringFlag(flags, "ui-address");
  if (ui !== undefined) o.uiAddress = loopbackAddress(ui, "ui-address");
  const lo = stringFlag(flags, "agent-loopback");
  if (lo !== undefined) {
    if (!/^127\.\d{1,3}\.\d{1,3}$/.test(lo)) throw new UsageError(`--agent-loopback "${lo}" must be three octets in 127/8, such as 127.0.1`);
    o.agentLoopback = lo;
  }
  o.sidecars = boolFlag(flags, "sidecars");
  o.replicaOnly = boolFlag(flags, "replica-only");
  const envFile = stringFlag(flags, "environment");
  if (envFile !== undefined) o.noSnatCidrs = egressDestinations(envFile);
  const resolved = resolveOptions(o);
  makePlan(resolved);
  return resolved;
}

function egressDestinations(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`--environment ${file}: cannot read it (${(err as Error).message}); give a template such as environments/acme-dev.yaml`);
  }
  const parsed = parseEnvironment(file, text);
  if (Array.isArray(parsed)) {
    throw new UsageError(`--environment ${file} is not a valid template: ${parsed.map((p) => `${p.path || "(file)"}: ${p.message}`).join("; ")}`);
  }
  return parsed.platform.egressNat.destinations;
}

/** FLOWLENS_* settings that point `flowlens observe|status` at the lab's relay. */
function writeClientEnv(lab: RunningLab): string {
  const flags = clientFlags(lab.plan, lab.certs!);
  const lines: string[] = [];
  for (let i = 0; i < flags.length; i += 2) lines.push(`export ${envName(flags[i].slice(2))}=${flags[i + 1]}`);
  const file = path.join(lab.plan.dir, "client.env");
  fs.writeFileSync(file, `${lines.join("\n")}\n`, { mode: 0o600 });
  return file;
}

/** A few flows for the start-up message; the agents report flows every few seconds, so wait (bounded) for some. */
async function sampleFlows(envFile: string): Promise<string> {
  const flowlens = path.resolve(__dirname, "../../bin/flowlens");
  let output = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const sample = spawnSync("sh", ["-c", `. "${envFile}" && exec "${flowlens}" observe --last 5 --protocol tcp`], { encoding: "utf8", timeout: 20_000 });
    output = sample.stdout || sample.stderr;
    if (output.split("\n").filter((l) => l.includes("boutique/")).length >= 5) break;
    await new Promise((r) => setTimeout(r, 3000));
  }
  return output || "(no flows yet)\n";
}

async function printReady(lab: RunningLab): Promise<void> {
  const { state, plan } = lab;
  const out = process.stdout;
  out.write(`\nlab "${plan.options.name}" is up: ${plan.nodes.length} nodes, ${plan.pods.length} pods${plan.options.sidecars ? " with sidecars" : ""}\n`);
  const missing = (["agent", "relay", "ui"] as const).filter((c) => !state.state.components.includes(c));
  if (plan.options.replicaOnly) out.write("replica only: no agents, relay or UI\n");
  else if (missing.length > 0) out.write(`not started (not in this checkout yet): ${missing.join(", ")}\n`);
  if (state.state.endpoints.ui && lab.uiTokenFile) {
    const token = fs.readFileSync(lab.uiTokenFile, "utf8").trim();
    out.write(`\n  UI:     ${state.state.endpoints.ui}  (sign in with token ${token}, kept in ${lab.uiTokenFile})\n`);
  }
  if (state.state.endpoints.relay && lab.certs) {
    const envFile = writeClientEnv(lab);
    out.write(`  relay:  ${state.state.endpoints.relay}\n\n$ . ${envFile}   # relay address and mTLS client certificate\n$ bin/flowlens observe --last 5 --protocol tcp\n`);
    out.write(await sampleFlows(envFile));
  }
  out.write(`\nmetadata: ${plan.metadataFile}\nlogs:     ${path.join(plan.dir, "logs")}\n`);
}

async function runUp(flags: ReturnType<typeof parseFlags>): Promise<number> {
  requireRoot();
  const opts = options(flags);
  // Ctrl-C while starting stops at the next step and removes what was made.
  let stop: () => void = () => undefined;
  let interrupted = false;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => {
    interrupted = true;
    stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    let n = 0;
    const lab = await up(opts, (step) => {
      if (interrupted) throw new LabError("interrupted; the lab was removed");
      process.stdout.write(`[${++n}] ${step}\n`);
    });
    await printReady(lab);
    if (boolFlag(flags, "detach") && !interrupted) {
      process.stdout.write(`\nrunning detached; remove it with: bin/flowlens lab down${opts.name === DEFAULT_OPTIONS.name ? "" : ` --name ${opts.name}`}\n`);
      return 0;
    }
    process.stdout.write("\nrunning; press Ctrl-C to stop and remove the lab\n");
    // The watch timer also keeps the process alive (signal listeners alone do not).
    const reported = new Set<number>();
    const watch = setInterval(() => {
      for (const p of lab.state.state.processes) {
        if (!reported.has(p.pid) && !isAlive(p.pid)) {
          reported.add(p.pid);
          process.stdout.write(`warning: ${p.what} (pid ${p.pid}) exited; see ${path.join(lab.plan.dir, "logs")}\n`);
        }
      }
    }, 5000);
    await stopped;
    clearInterval(watch);
    process.stdout.write("\nremoving the lab\n");
    await down(opts.name, (step) => process.stdout.write(`  ${step}\n`));
    process.stdout.write("lab removed\n");
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function runStatus(name: string): number {
  const plan = makePlan({ ...DEFAULT_OPTIONS, name });
  const loaded = StateFile.load(plan.stateFile);
  if (!loaded) {
    process.stdout.write(`no lab "${name}" is running (no ${plan.stateFile})\n`);
    return 3;
  }
  const s = loaded.state;
  const out = process.stdout;
  out.write(`lab "${s.name}" since ${s.createdAt}${s.sidecars ? " (sidecars)" : ""}\n`);
  out.write(`components: replica${s.components.length ? `, ${s.components.join(", ")}` : ""}\n`);
  if (s.endpoints.ui) out.write(`UI: ${s.endpoints.ui}\n`);
  if (s.endpoints.relay) out.write(`relay: ${s.endpoints.relay}\n`);
  for (const a of s.endpoints.agents) out.write(`agent: ${a}\n`);
  const dead = s.processes.filter((p) => !isAlive(p.pid));
  out.write(`processes: ${s.processes.length - dead.length} running, ${dead.length} exited\n`);
  for (const p of dead) out.write(`  exited: ${p.what} (pid ${p.pid}); see ${path.join(s.dir, "logs")}\n`);
  return dead.length > 0 ? 1 : 0;
}

export async function run(argv: string[]): Promise<number> {
  try {
    const flags = parseFlags("lab", argv, FLAGS);
    const [action, extra] = flags.positionals;
    if (boolFlag(flags, "help") || action === undefined) {
      process.stdout.write(HELP);
      return action === undefined && !boolFlag(flags, "help") ? 2 : 0;
    }
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}" after "${action}"`);
    const name = stringFlag(flags, "name") ?? DEFAULT_OPTIONS.name;
    switch (action) {
      case "up":
        return await runUp(flags);
      case "down":
        requireRoot();
        makePlan({ ...DEFAULT_OPTIONS, name });
        await down(name, (step) => process.stdout.write(`${step}\n`));
        process.stdout.write(`lab "${name}" removed\n`);
        return 0;
      case "status":
        return runStatus(name);
      default:
        throw new UsageError(`unknown action "${action}"; use up, down or status`);
    }
  } catch (err) {
    return reportError("lab", err instanceof LabError ? new CommandError(err.message) : err);
  }
}
