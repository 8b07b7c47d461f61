/**
 * Test pods for the kernel capture tests: one network namespace and one cgroup v2 directory per pod, veths
 * on a bridge with no uplink and no address, addresses from the agent tests' range 198.18.1.0/24 (the agent
 * benchmarks pass their own, 198.18.2), and a
 * long-lived "pause" process per pod so the pod's netns belongs to its cgroup. destroy() removes all of it.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { recordResource, releaseResource } from "../../support/test-resources";

export const CGROUP2_MOUNT = "/sys/fs/cgroup/unified";
export const TRAFFIC = path.join(__dirname, "fixtures/traffic.js");

export interface Pod {
  name: string;
  netns: string;
  ip: string;
  cgroupDir: string;
  cgroupId: bigint;
  netnsIno: number;
  hostIf: string;
}

function sh(cmd: string[]): string {
  return execFileSync(cmd[0], cmd.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function quiet(cmd: string[]): void {
  spawnSync(cmd[0], cmd.slice(1), { stdio: "ignore" });
}

export class TestPods {
  readonly suffix = crypto.randomBytes(3).toString("hex");
  readonly bridge = `flbr${this.suffix}`;
  readonly cgroupRoot = path.join(CGROUP2_MOUNT, `fl${this.suffix}`);
  readonly pods = new Map<string, Pod>();
  private readonly processes: ChildProcess[] = [];
  /** Every namespace begun, including one whose pod failed halfway. */
  private readonly netnsNames: string[] = [];

  /** Pods named `names` get <subnet>.<firstHost + i>. */
  constructor(names: string[], { subnet = "198.18.1", firstHost = 10 }: { subnet?: string; firstHost?: number } = {}) {
    try {
      recordResource("cgroup", this.cgroupRoot);
      fs.mkdirSync(this.cgroupRoot);
      recordResource("link", this.bridge);
      sh(["ip", "link", "add", this.bridge, "type", "bridge"]);
      sh(["ip", "link", "set", this.bridge, "up"]);
      names.forEach((name, i) => this.addPod(name, `${subnet}.${firstHost + i}`, i));
    } catch (err) {
      void this.destroy();
      throw err;
    }
  }

  private addPod(name: string, ip: string, i: number): void {
    const netns = `fl${name}${this.suffix}`;
    const hostIf = `flv${this.suffix}${i}`;
    const cgroupDir = path.join(this.cgroupRoot, name);
    fs.mkdirSync(cgroupDir);
    recordResource("netns", netns);
    this.netnsNames.push(netns);
    sh(["ip", "netns", "add", netns]);
    sh(["ip", "link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", netns]);
    sh(["ip", "link", "set", hostIf, "master", this.bridge, "up"]);
    sh(["ip", "-n", netns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
    sh(["ip", "-n", netns, "link", "set", "eth0", "up"]);
    sh(["ip", "-n", netns, "link", "set", "lo", "up"]);
    const pod: Pod = {
      name,
      netns,
      ip,
      cgroupDir,
      cgroupId: fs.statSync(cgroupDir, { bigint: true }).ino,
      netnsIno: fs.statSync(`/run/netns/${netns}`).ino,
      hostIf,
    };
    this.pods.set(name, pod);
    this.spawn(name, ["sleep", "600"]);
  }

  pod(name: string): Pod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`no test pod ${name}`);
    return p;
  }

  private wrap(name: string, cmd: string[]): string[] {
    const p = this.pod(name);
    return ["sh", "-c", `echo $$ > ${p.cgroupDir}/cgroup.procs && exec ip netns exec ${p.netns} "$@"`, "sh", ...cmd];
  }

  /** Runs a command to completion inside the pod (its cgroup and netns); throws on failure. */
  run(name: string, cmd: string[]): string {
    const [bin, ...args] = this.wrap(name, cmd);
    const r = spawnSync(bin, args, { encoding: "utf8", timeout: 30000 });
    if (r.status !== 0) throw new Error(`${cmd.join(" ")} in pod ${name} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  /** Starts a long-running command inside the pod; resolves once it printed `readyLine` (if given). */
  spawn(name: string, cmd: string[], readyLine?: string): Promise<ChildProcess> {
    const [bin, ...args] = this.wrap(name, cmd);
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
    this.processes.push(child);
    if (!readyLine) return Promise.resolve(child);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${cmd.join(" ")} in pod ${name} never printed ${readyLine}`)), 10000);
      let out = "";
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes(readyLine)) {
          clearTimeout(timer);
          resolve(child);
        }
      });
      child.on("exit", (code) => reject(new Error(`${cmd.join(" ")} in pod ${name} exited with ${code}`)));
    });
  }

  /** Node traffic script (fixtures/traffic.js) inside the pod. */
  traffic(name: string, args: Array<string | number>): string {
    return this.run(name, [process.execPath, TRAFFIC, ...args.map(String)]);
  }

  spawnTraffic(name: string, args: Array<string | number>): Promise<ChildProcess> {
    return this.spawn(name, [process.execPath, TRAFFIC, ...args.map(String)], "ready");
  }

  async destroy(): Promise<void> {
    for (const child of this.processes) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const ns of this.netnsNames) {
      quiet(["ip", "netns", "del", ns]);
      if (!fs.existsSync(`/run/netns/${ns}`)) releaseResource("netns", ns);
    }
    quiet(["ip", "link", "del", this.bridge]);
    if (!fs.existsSync(`/sys/class/net/${this.bridge}`)) releaseResource("link", this.bridge);
    // Processes leave their cgroup only once reaped: retry for a moment.
    for (let attempt = 0; attempt < 50 && fs.existsSync(this.cgroupRoot); attempt++) {
      for (const p of this.pods.values()) this.killCgroup(p.cgroupDir);
      try {
        for (const p of this.pods.values()) if (fs.existsSync(p.cgroupDir)) fs.rmdirSync(p.cgroupDir);
        fs.rmdirSync(this.cgroupRoot);
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!fs.existsSync(this.cgroupRoot)) releaseResource("cgroup", this.cgroupRoot);
  }

  private killCgroup(dir: string): void {
    try {
      for (const pid of fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n")) {
        if (pid) quiet(["kill", "-9", pid]);
      }
    } catch {
      // already gone
    }
  }
}
