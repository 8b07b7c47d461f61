/**
 * A client behind a NAT'ing router, for the egress NAT tests: three network namespaces joined by veth
 * pairs (no bridge to the host, no uplink), addresses from the agent tests' range 198.18.1.0/24:
 *
 *   client 198.18.1.130/26 ── 198.18.1.129/26 router 198.18.1.193/26 ── 198.18.1.200/26, .201/26 server
 *
 * The router masquerades traffic to the server's .200 and leaves .201 untranslated (a no-SNAT
 * destination), with its own nft table. The client runs in a cgroup of its own, the observed subtree;
 * the router and server are outside it, as a node's namespace and an external host are. destroy()
 * removes everything, whatever state setup reached.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { CGROUP2_MOUNT, TRAFFIC } from "./pods";
import { recordResource, releaseResource } from "../../support/test-resources";

export const CLIENT_IP = "198.18.1.130";
export const ROUTER_OUTER_IP = "198.18.1.193";
export const MASQUERADED_IP = "198.18.1.200";
export const NO_SNAT_IP = "198.18.1.201";

function sh(cmd: string[]): string {
  return execFileSync(cmd[0], cmd.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export class NatRouter {
  readonly suffix = crypto.randomBytes(3).toString("hex");
  readonly client = `flnc${this.suffix}`;
  readonly router = `flnr${this.suffix}`;
  readonly server = `flns${this.suffix}`;
  readonly table = `flnat${this.suffix}`;
  readonly cgroupRoot = path.join(CGROUP2_MOUNT, `flnat${this.suffix}`);
  readonly cgroupDir = path.join(this.cgroupRoot, "client");
  private readonly processes: ChildProcess[] = [];

  constructor() {
    try {
      recordResource("cgroup", this.cgroupRoot);
      fs.mkdirSync(this.cgroupRoot);
      fs.mkdirSync(this.cgroupDir);
      for (const ns of [this.client, this.router, this.server]) {
        recordResource("netns", ns);
        sh(["ip", "netns", "add", ns]);
        sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
      }
      this.link(this.client, `${CLIENT_IP}/26`, this.router, "198.18.1.129/26");
      this.link(this.server, `${MASQUERADED_IP}/26`, this.router, `${ROUTER_OUTER_IP}/26`);
      sh(["ip", "-n", this.server, "addr", "add", `${NO_SNAT_IP}/26`, "dev", "eth0"]);
      sh(["ip", "-n", this.client, "route", "add", "default", "via", "198.18.1.129"]);
      sh(["ip", "-n", this.server, "route", "add", "default", "via", ROUTER_OUTER_IP]);
      sh(["ip", "netns", "exec", this.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
      const ruleset = `table ip ${this.table} {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip daddr ${NO_SNAT_IP} return
    ip saddr ${CLIENT_IP} oifname "${this.server.slice(0, 15)}" masquerade
  }
}
`;
      execFileSync("ip", ["netns", "exec", this.router, "nft", "-f", "-"], { input: ruleset, stdio: ["pipe", "ignore", "pipe"] });
    } catch (err) {
      void this.destroy();
      throw err;
    }
  }

  /** A veth pair: `eth0` in `ns` and an interface named after `ns` in `peerNs`. */
  private link(ns: string, addr: string, peerNs: string, peerAddr: string): void {
    const peerIf = ns.slice(0, 15);
    sh(["ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", peerIf, "netns", peerNs]);
    sh(["ip", "-n", ns, "addr", "add", addr, "dev", "eth0"]);
    sh(["ip", "-n", peerNs, "addr", "add", peerAddr, "dev", peerIf]);
    sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    sh(["ip", "-n", peerNs, "link", "set", peerIf, "up"]);
  }

  /** Traffic script in the client's cgroup and namespace; throws on failure. */
  clientTraffic(args: Array<string | number>): void {
    const r = spawnSync(
      "sh",
      ["-c", `echo $$ > ${this.cgroupDir}/cgroup.procs && exec ip netns exec ${this.client} "$@"`, "sh", process.execPath, TRAFFIC, ...args.map(String)],
      { encoding: "utf8", timeout: 30000 },
    );
    if (r.status !== 0) throw new Error(`client ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  }

  /** Traffic script in the server's namespace (outside the observed cgroup); resolves once it is ready. */
  serverTraffic(args: Array<string | number>): Promise<ChildProcess> {
    const child = spawn("ip", ["netns", "exec", this.server, process.execPath, TRAFFIC, ...args.map(String)], { stdio: ["ignore", "pipe", "inherit"] });
    this.processes.push(child);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server ${args.join(" ")} never became ready`)), 10000);
      child.stdout!.on("data", (d: Buffer) => {
        if (d.toString().includes("ready")) {
          clearTimeout(timer);
          resolve(child);
        }
      });
      child.on("exit", (code) => reject(new Error(`server ${args.join(" ")} exited with ${code}`)));
    });
  }

  async destroy(): Promise<void> {
    for (const child of this.processes) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    spawnSync("ip", ["netns", "exec", this.router, "nft", "delete", "table", "ip", this.table], { stdio: "ignore" });
    for (const ns of [this.client, this.router, this.server]) {
      spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      if (!fs.existsSync(`/run/netns/${ns}`)) releaseResource("netns", ns);
    }
    for (let attempt = 0; attempt < 50 && fs.existsSync(this.cgroupRoot); attempt++) {
      try {
        if (fs.existsSync(this.cgroupDir)) {
          for (const pid of fs.readFileSync(path.join(this.cgroupDir, "cgroup.procs"), "utf8").split("\n")) if (pid) spawnSync("kill", ["-9", pid]);
          fs.rmdirSync(this.cgroupDir);
        }
        fs.rmdirSync(this.cgroupRoot);
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!fs.existsSync(this.cgroupRoot)) releaseResource("cgroup", this.cgroupRoot);
  }
}
