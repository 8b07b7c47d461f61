// Switching the two running replica copies between configurations: the
// agents (with the relay) started observing one copy's cgroups on every node,
// or stopped and verified detached; HAProxy sidecars started in one copy's pods
// (and the shared load generator's, for its traffic to that copy) with
// interception rules loaded, or the rules removed and the sidecars stopped.
// The other copy is never touched. After every switch each replica process
// re-opens its connections, so traffic runs over connections made under the configuration.
import * as fs from "node:fs";
import * as path from "node:path";
import * as http from "node:http";
import { killCgroupTree, treePids } from "../../lab/cgroups";
import * as control from "../../lab/control-plane";
import { LabError } from "../../lab/errors";
import { podRuleset, replacePodTable } from "../../lab/nftables";
import { copyCgroup, copyServiceCidr, type LabPlan, type PodPlan } from "../../lab/plan";
import { waitFor } from "../../lab/processes";
import type { StateFile } from "../../lab/state";
import { startSidecar, waitForPods } from "../../lab/workloads";
import { assertDetached, attachedLinks, cgroupIds, type Attached } from "./bpf";

export type Config = "none" | "agent" | "sidecar";

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // exited meanwhile
    }
  }
}

/** Value of an unlabelled Prometheus counter at `url`, or NaN when the agent does not answer. */
function counter(url: string, name: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve(Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1] ?? NaN)));
    });
    req.setTimeout(2000, () => req.destroy());
    req.on("error", () => resolve(NaN));
  });
}

export class ConfigurationSwitch {
  private current: Config = "none";
  /** The copy the current configuration applies to. */
  private copy = "";
  private attachedIds: number[] = [];
  private readonly labCgroups: Set<number>;

  constructor(private readonly plan: LabPlan, private readonly state: StateFile, private readonly certs: control.Certificates | undefined) {
    if (plan.copies.length !== 2) throw new LabError("the comparison switches one of two replica copies; plan the lab with copies: 2");
    this.labCgroups = cgroupIds(plan.cgroupRoot);
  }

  agentCgroup(node: string): string {
    return path.join(this.plan.systemCgroup, `agent-${node}`);
  }

  get relayCgroup(): string {
    return path.join(this.plan.systemCgroup, "relay");
  }

  /**
   * Moves `copy` to `config` (and the other copy to none); returns what the
   * agents attached (agent) or an empty set (checked clean).
   */
  async apply(config: Config, copy: string): Promise<Attached> {
    if (config !== this.current || (config !== "none" && copy !== this.copy)) {
      if (this.current === "agent") await this.stopAgents();
      if (this.current === "sidecar") await this.stopSidecars();
      if (config === "agent") await this.startAgents(copy);
      if (config === "sidecar") await this.startSidecars(copy);
      this.current = config;
      this.copy = copy;
    }
    this.resetConnections();
    if (config === "agent") return attachedLinks(this.agentPids(), this.labCgroups);
    assertDetached(this.attachedIds, this.labCgroups, `before a ${config} block`);
    return { ids: [], byType: {}, cgroupIds: [] };
  }

  /** Kernel records each agent has received so far (its own metrics). */
  async kernelEvents(): Promise<number[]> {
    return Promise.all(this.plan.nodes.map((n) => counter(`http://${n.agentAddress.replace(/:\d+$/, "")}:9965/metrics`, "flowlens_kernel_events_total")));
  }

  private agentPids(): number[] {
    return [...this.plan.nodes.map((n) => this.agentCgroup(n.name)), this.relayCgroup].filter((c) => fs.existsSync(c)).flatMap((c) => treePids(c));
  }

  private async startAgents(copy: string): Promise<void> {
    if (!this.certs) throw new LabError("the agent configuration needs the agent and relay, which are not in this checkout");
    const roots = this.plan.nodes.map((node) => copyCgroup(node, copy));
    const pids = this.plan.nodes.map((node, i) => control.startAgent(this.plan, this.state, node, this.certs!, roots[i]));
    await control.waitForAgents(this.plan, pids);
    const relay = control.startRelay(this.plan, this.state, this.certs);
    await waitFor("relay", () => control.accepting(this.plan.options.relayAddress), 60_000, path.join(this.plan.dir, "logs", "relay.log"), relay);
    const attached = attachedLinks(this.agentPids(), this.labCgroups);
    if (!attached.byType.cgroup) throw new LabError(`the agents listen but attached no cgroup programs to ${roots.join(", ")}; see ${path.join(this.plan.dir, "logs")}`);
    // Observing one copy means programs on that copy's groups only: anything on the other copy or above would see both.
    const observed = new Set(roots.flatMap((r) => [...cgroupIds(r)]));
    const elsewhere = attached.cgroupIds.filter((id) => !observed.has(id));
    if (elsewhere.length > 0) throw new LabError(`the agents attached programs to cgroup ids ${elsewhere.join(", ")}, outside copy ${copy}'s groups ${roots.join(", ")}; the comparison needs the other copy unobserved`);
    this.attachedIds = attached.ids;
  }

  private async stopAgents(): Promise<void> {
    for (const n of this.plan.nodes) await killCgroupTree(this.agentCgroup(n.name));
    await killCgroupTree(this.relayCgroup);
    assertDetached(this.attachedIds, this.labCgroups, "after stopping the agents");
  }

  /** The pods that get sidecars for `copy`: its own, and the shared load generator (intercepting only its traffic to `copy`). */
  private sidecarPods(copy: string): { pod: PodPlan; interceptTo?: string }[] {
    return this.plan.pods.filter((p) => p.copy === copy || p.copy === undefined).map((pod) => ({ pod, interceptTo: pod.copy ? undefined : copyServiceCidr(this.plan, copy) }));
  }

  private async startSidecars(copy: string): Promise<void> {
    const pods = this.sidecarPods(copy);
    for (const { pod } of pods) startSidecar(this.plan, this.state, pod);
    await waitForPods(this.plan, pods.map((p) => p.pod));
    for (const { pod, interceptTo } of pods) replacePodTable(pod.netns, podRuleset(this.plan, pod, true, interceptTo));
  }

  private async stopSidecars(): Promise<void> {
    const pods = this.sidecarPods(this.copy).map((p) => p.pod);
    for (const pod of pods) replacePodTable(pod.netns, podRuleset(this.plan, pod, false));
    const proxies = pods.flatMap((p) => treePids(p.cgroup)).filter((pid) => comm(pid) === "haproxy");
    signal(proxies, "SIGTERM");
    const deadline = Date.now() + 10_000;
    while (proxies.some((pid) => comm(pid) === "haproxy")) {
      if (Date.now() > deadline) throw new LabError(`sidecars ${proxies.join(", ")} did not exit within 10 s of SIGTERM`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGHUP to every replica process of both copies: each drops its connections and opens new ones on next use. */
  private resetConnections(): void {
    const replicas = this.plan.pods.flatMap((p) => treePids(p.cgroup)).filter((pid) => comm(pid) === "node");
    if (replicas.length < this.plan.pods.length - this.plan.copies.length) {
      throw new LabError(`only ${replicas.length} replica processes run in ${this.plan.cgroupRoot}; see ${path.join(this.plan.dir, "logs")}`);
    }
    signal(replicas, "SIGHUP");
  }
}
