/**
 * Test pods for measuring a connection side by side with its twin: one client pod, two server pods, and two
 * cgroups under the pods' subtree, `observed` and `unobserved`. Each server runs in one of the groups, and
 * `rr pair` makes one connection from each group (a socket keeps the cgroup it was created in, which is what
 * cgroup_skb programs see), then alternates round trips between them. Programs attached to `observed` see
 * one connection's packets and not the other's.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { TestPods } from "../../test/agent/kernel/pods";
import { runAsync } from "./common";
import { parseHistogram, type SparseHistogram } from "./latency-histogram";

const PORT = 5201;

/** Starts a server (it dies with its cgroup); resolves once it printed `readyLine`. */
function spawnReady(cmd: string[], readyLine: string): Promise<void> {
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd.join(" ")} never printed ${readyLine}`)), 10_000);
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (!out.includes(readyLine)) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      resolve();
    });
    child.on("exit", (code) => reject(new Error(`${cmd.join(" ")} exited with ${code}`)));
  });
}

/** Kills whatever runs in a cgroup, then removes it; retries while the processes exit. */
async function removeCgroup(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 50 && fs.existsSync(dir); attempt++) {
    try {
      fs.writeFileSync(path.join(dir, "cgroup.kill"), "1");
      fs.rmdirSync(dir);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (fs.existsSync(dir)) console.error(`could not remove ${dir}`);
}

export class PairedPods {
  private readonly pods = new TestPods(["client", "server-o", "server-u"], { subnet: "198.18.2", firstHost: 10 });
  readonly observedGroup = path.join(this.pods.cgroupRoot, "observed");
  readonly unobservedGroup = path.join(this.pods.cgroupRoot, "unobserved");
  private pinned: string[] = [];
  private clientPinned: string[] = [];

  /**
   * Starts both servers pinned to `cpu` at `nice`; `rr` is the built bench/agent/tools/rr. The client runs
   * on `clientCpu`, by default the servers' CPU too.
   */
  async start(rr: string, cpu: string, nice: number, clientCpu = cpu): Promise<void> {
    fs.mkdirSync(this.observedGroup);
    fs.mkdirSync(this.unobservedGroup);
    this.pinned = ["taskset", "-c", cpu, "nice", "-n", String(nice), rr];
    this.clientPinned = ["taskset", "-c", clientCpu, "nice", "-n", String(nice), rr];
    // A server's accepted sockets take its listener's cgroup. The cgroup is joined first, since
    // `ip netns exec` remounts /sys, where the cgroup files are.
    for (const [pod, group] of [["server-o", this.observedGroup], ["server-u", this.unobservedGroup]] as const) {
      const { netns, ip } = this.pods.pod(pod);
      await spawnReady(["sh", "-c", `echo $$ > ${group}/cgroup.procs && exec ip netns exec ${netns} "$@"`, "sh", ...this.pinned, "server", ip, String(PORT)], "ready");
    }
  }

  /** One block of round trips alternating between the two connections: [observed, unobserved] histograms. */
  async measure(requestBytes: number, seconds: number, label: string): Promise<[SparseHistogram, SparseHistogram]> {
    const args = [
      "pair", String(requestBytes), String(seconds), `/run/netns/${this.pods.pod("client").netns}`,
      this.observedGroup, this.pods.pod("server-o").ip, String(PORT),
      this.unobservedGroup, this.pods.pod("server-u").ip, String(PORT),
    ];
    const out = (await runAsync([...this.clientPinned, ...args])).trim().split("\n");
    if (out.length !== 2) throw new Error(`rr pair (${label}) printed ${out.length} lines, expected 2`);
    return [parseHistogram(out[0], `rr pair observed (${label})`), parseHistogram(out[1], `rr pair unobserved (${label})`)];
  }

  /**
   * Round trips alternating between the two connections for `seconds`, in histograms per time slot: slot k
   * covers CLOCK_MONOTONIC [k, k+1) x slotMs, leaving out round trips that start in its first guardMs.
   * Slots in which either connection finished no round trip are left out.
   */
  async measureSlots(requestBytes: number, seconds: number, slotMs: number, guardMs: number): Promise<Map<number, [SparseHistogram, SparseHistogram]>> {
    const args = [
      "pair", String(requestBytes), String(seconds), `/run/netns/${this.pods.pod("client").netns}`,
      this.observedGroup, this.pods.pod("server-o").ip, String(PORT),
      this.unobservedGroup, this.pods.pod("server-u").ip, String(PORT),
      String(slotMs), String(guardMs),
    ];
    const lines = (await runAsync([...this.clientPinned, ...args], (seconds + 60) * 1000)).trim().split("\n").filter(Boolean);
    const slots = new Map<number, [SparseHistogram, SparseHistogram]>();
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const [a, b] = [lines[i], lines[i + 1]].map((l) => /^(\d+) (.*)$/.exec(l));
      if (!a || !b || a[1] !== b[1]) throw new Error(`rr pair: slot lines ${i + 1} and ${i + 2} do not pair up`);
      slots.set(Number(a[1]), [parseHistogram(a[2], `rr pair observed (slot ${a[1]})`), parseHistogram(b[2], `rr pair unobserved (slot ${b[1]})`)]);
    }
    return slots;
  }

  async destroy(): Promise<void> {
    await removeCgroup(this.observedGroup);
    await removeCgroup(this.unobservedGroup);
    await this.pods.destroy();
  }
}
