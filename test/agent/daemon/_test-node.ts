// A throwaway "node" for agent tests: a network namespace holding a bridge
// with no uplink, pods as network namespaces plus cgroups under a node cgroup,
// and helpers to run processes inside a pod. Every name carries a random
// suffix; destroy() removes everything, whatever state setup reached.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { recordResource, releaseResource } from "../../support/test-resources";

export const REPO = path.resolve(__dirname, "../../..");
export const CGROUP_V2 = "/sys/fs/cgroup/unified";

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export interface TestPod {
  name: string;
  netns: string;
  ip: string;
  cgroupDir: string;
}

export class TestNode {
  readonly suffix = randomBytes(3).toString("hex");
  readonly netns = `fln${this.suffix}`;
  readonly bridge = `flbr${this.suffix}`;
  readonly cgroupDir = path.join(CGROUP_V2, `flnode-${this.suffix}`);
  readonly pods: TestPod[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly cleanups: (() => void)[] = [];

  create(): this {
    recordResource("netns", this.netns);
    sh("ip", ["netns", "add", this.netns]);
    this.cleanups.push(() => {
      sh("ip", ["netns", "del", this.netns]);
      releaseResource("netns", this.netns);
    });
    sh("ip", ["-n", this.netns, "link", "add", this.bridge, "type", "bridge"]);
    sh("ip", ["-n", this.netns, "link", "set", this.bridge, "up"]);
    recordResource("cgroup", this.cgroupDir);
    fs.mkdirSync(this.cgroupDir);
    this.cleanups.push(() => {
      fs.rmdirSync(this.cgroupDir);
      releaseResource("cgroup", this.cgroupDir);
    });
    return this;
  }

  addPod(name: string, ip: string): TestPod {
    const pod: TestPod = { name, ip, netns: `fl${name.slice(0, 4)}${this.suffix}`, cgroupDir: path.join(this.cgroupDir, name) };
    const hostVeth = `flv${this.pods.length}${this.suffix}`;
    recordResource("netns", pod.netns);
    sh("ip", ["netns", "add", pod.netns]);
    this.cleanups.push(() => {
      sh("ip", ["netns", "del", pod.netns]);
      releaseResource("netns", pod.netns);
    });
    sh("ip", ["-n", this.netns, "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", pod.netns]);
    sh("ip", ["-n", this.netns, "link", "set", hostVeth, "master", this.bridge, "up"]);
    sh("ip", ["-n", pod.netns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
    sh("ip", ["-n", pod.netns, "link", "set", "eth0", "up"]);
    sh("ip", ["-n", pod.netns, "link", "set", "lo", "up"]);
    fs.mkdirSync(pod.cgroupDir);
    this.cleanups.push(() => fs.rmdirSync(pod.cgroupDir));
    this.pods.push(pod);
    return pod;
  }

  /** Runs a command as a process of `pod` (its cgroup and network namespace). */
  spawnInPod(pod: TestPod, argv: string[]): ChildProcess {
    const script = `echo $$ > ${pod.cgroupDir}/cgroup.procs && exec ip netns exec ${pod.netns} "$@"`;
    const child = spawn("sh", ["-c", script, "sh", ...argv], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.children.add(child);
    child.on("exit", () => this.children.delete(child));
    return child;
  }

  /** Runs the traffic script in `pod`; resolves with its JSON summary. */
  traffic(pod: TestPod, args: (string | number)[]): Promise<Record<string, number>> {
    return this.run(pod, ["node", "--import", "tsx", path.join(__dirname, "_pod-traffic.ts"), ...args.map(String)]).then((out) => JSON.parse(out));
  }

  /** Runs a command in `pod` to completion; rejects with its stderr on failure. */
  run(pod: TestPod, argv: string[]): Promise<string> {
    const child = this.spawnInPod(pod, argv);
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    return new Promise((resolve, reject) => {
      child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(" ")} in ${pod.name} exited ${code}: ${err}`))));
    });
  }

  /** Starts a long-running server in `pod` and waits until it prints "listening". */
  async startServer(pod: TestPod, args: (string | number)[]): Promise<ChildProcess> {
    const child = this.spawnInPod(pod, ["node", "--import", "tsx", path.join(__dirname, "_pod-traffic.ts"), ...args.map(String)]);
    await new Promise<void>((resolve, reject) => {
      let out = "";
      let err = "";
      child.stderr!.on("data", (d) => (err += d));
      child.stdout!.on("data", (d) => {
        out += d;
        if (out.includes("listening")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`server ${args.join(" ")} exited ${code}: ${err}`)));
    });
    return child;
  }

  /** Runs `nft -f -` inside the pod's network namespace. */
  nft(pod: TestPod, rules: string): void {
    execFileSync("ip", ["netns", "exec", pod.netns, "nft", "-f", "-"], { input: rules, stdio: ["pipe", "pipe", "pipe"] });
  }

  /** Kills every process started here, then removes pods, cgroups and namespaces (newest first). */
  async destroy(): Promise<void> {
    const exits = [...this.children].map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.on("exit", resolve))));
    for (const c of this.children) {
      try {
        process.kill(-c.pid!, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(exits), new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    const errors: string[] = [];
    for (const cleanup of this.cleanups.reverse()) {
      for (let attempt = 0; ; attempt++) {
        try {
          cleanup();
          break;
        } catch (e) {
          // A cgroup stays busy for a moment after its last process exits.
          if (attempt >= 20) {
            errors.push((e as Error).message);
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
    if (errors.length > 0) throw new Error(`test node cleanup: ${errors.join("; ")}`);
  }
}
