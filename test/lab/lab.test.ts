// The lab end to end: up (detached) through the CLI, real traffic through the
// replica, egress NAT, flows with pod names through the relay, sidecar
// interception, then down with nothing left behind.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import type { Flow } from "../../proto/types";
import { recordResource, releaseResource } from "../support/test-resources";

const run = promisify(execFile);
const REPO = path.resolve(__dirname, "../..");
const FLOWLENS = path.join(REPO, "bin/flowlens");
const CGROUP_UNIFIED = "/sys/fs/cgroup/unified";

interface Metadata { pods: { name: string; node: string; ips: string[]; labels: Record<string, string>; cgroupPath: string }[] }
interface Lab { name: string; loopback: string; relay: string; ui: string }

function newLab(): Lab {
  const suffix = randomBytes(3).toString("hex");
  const loopback = `127.${100 + (randomBytes(1)[0] % 100)}.${randomBytes(1)[0]}`;
  return { name: `fl-lab-${suffix}`, loopback, relay: `${loopback}.10:4245`, ui: `${loopback}.10:12000` };
}

async function labUp(lab: Lab, extra: string[]): Promise<void> {
  recordResource("lab", lab.name);
  await run(FLOWLENS, ["lab", "up", "--detach", "--name", lab.name, "--agent-loopback", lab.loopback,
    "--relay-address", lab.relay, "--ui-address", lab.ui, "--load-rate", "10", ...extra], { timeout: 150_000 });
}

async function labDown(name: string): Promise<void> {
  await run(FLOWLENS, ["lab", "down", "--name", name], { timeout: 60_000 });
  releaseResource("lab", name);
}

async function inNetns(netns: string, script: string): Promise<string> {
  const { stdout } = await run("ip", ["netns", "exec", netns, process.execPath, "-e", script], { timeout: 20_000 });
  return stdout.trim();
}

/** A script in a pod's namespace and cgroup, so the pod's agent observes its connections. */
async function inPod(p: { name: string; cgroupPath: string }, netns: string, script: string): Promise<string> {
  const { stdout } = await run("sh", ["-c", `echo $$ > ${p.cgroupPath}/cgroup.procs && exec ip netns exec ${netns} "$@"`, "sh", process.execPath, "-e", script], { timeout: 20_000 });
  return stdout.trim();
}

/** An HTTP GET from inside a namespace; prints "<status> <body bytes>". */
function httpGet(url: string): string {
  return `require("http").get(${JSON.stringify(url)}, r => { let n = ""; r.on("data", c => n += c); r.on("end", () => console.log(r.statusCode, n.trim())); }).on("error", e => { console.log("error", e.message); });`;
}

async function netnsWithPrefix(prefix: string): Promise<string[]> {
  const { stdout } = await run("ip", ["netns", "list"]);
  return stdout.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(prefix));
}

/** Inode numbers (cgroup ids) of the lab's cgroups, to find BPF links attached to them. */
function cgroupIds(root: string): number[] {
  const ids = [fs.statSync(root).ino];
  for (const e of fs.readdirSync(root, { withFileTypes: true })) if (e.isDirectory()) ids.push(...cgroupIds(path.join(root, e.name)));
  return ids;
}

async function cgroupLinks(ids: number[]): Promise<unknown[]> {
  const { stdout } = await run("bpftool", ["-j", "link", "show"]);
  return (JSON.parse(stdout) as { type?: string; cgroup_id?: number }[]).filter((l) => l.type === "cgroup" && ids.includes(l.cgroup_id ?? -1));
}

async function expectNothingLeft(lab: Lab, pids: number[]): Promise<void> {
  expect(await netnsWithPrefix(`${lab.name}-`)).toEqual([]);
  expect(fs.existsSync(path.join(CGROUP_UNIFIED, lab.name))).toBe(false);
  expect(fs.existsSync(`/run/flowlens-lab/${lab.name}`)).toBe(false);
  expect(fs.existsSync(`/run/flowlens-lab/${lab.name}.json`)).toBe(false);
  const alive = pids.filter((pid) => fs.existsSync(`/proc/${pid}`) && !fs.readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "));
  expect(alive).toEqual([]);
  const { stdout: tables } = await run("nft", ["list", "tables"]);
  expect(tables).not.toMatch(/flowlens_lab/);
  const { stdout: links } = await run("ip", ["-o", "link", "show"]);
  expect(links).not.toContain(lab.name);
}

function statePids(name: string): number[] {
  const state = JSON.parse(fs.readFileSync(`/run/flowlens-lab/${name}.json`, "utf8")) as { processes: { pid: number }[] };
  return state.processes.map((p) => p.pid);
}

describe("the lab with the observability stack", () => {
  const lab = newLab();
  let metadata: Metadata;
  let pids: number[] = [];
  let labCgroupIds: number[] = [];

  beforeAll(async () => {
    await labUp(lab, []);
    metadata = JSON.parse(fs.readFileSync(`/run/flowlens-lab/${lab.name}/metadata.json`, "utf8")) as Metadata;
    pids = statePids(lab.name);
    labCgroupIds = cgroupIds(path.join(CGROUP_UNIFIED, lab.name));
  }, 180_000);

  afterAll(async () => {
    await labDown(lab.name);
  }, 60_000);

  const pod = (app: string) => metadata.pods.find((p) => p.labels.app === app)!;

  test("every pod has its own namespace, cgroup under its node and an address from the lab range", () => {
    expect(metadata.pods.map((p) => p.labels.app).sort()).toEqual([
      "adservice", "cartservice", "checkoutservice", "currencyservice", "emailservice", "frontend", "loadgenerator",
      "paymentservice", "productcatalogservice", "recommendationservice", "redis-cart", "shippingservice",
    ]);
    expect(new Set(metadata.pods.map((p) => p.node)).size).toBeGreaterThanOrEqual(2);
    for (const p of metadata.pods) {
      expect(p.ips[0]).toMatch(/^198\.19\./);
      expect(p.cgroupPath).toBe(path.join(CGROUP_UNIFIED, lab.name, p.node, p.name));
      expect(fs.readFileSync(path.join(p.cgroupPath, "cgroup.procs"), "utf8").trim()).not.toBe("");
    }
  });

  test("the frontend serves pages through its Service address, fanning out to the backends", async () => {
    const out = await inNetns(`${lab.name}-loadgenerator`, httpGet("http://198.19.100.10/product/OLJCESPC7Z"));
    expect(out).toMatch(/^200 /);
    expect(out).toContain("Sunglasses");
    expect(out).toContain("recommendations");
  });

  test("egress to a listed destination keeps the pod address and other egress is masqueraded to the node", async () => {
    const frontend = pod("frontend");
    const nodeIndex = Number(frontend.node.replace("lab-node-", ""));
    expect(await inNetns(`${lab.name}-frontend`, httpGet("http://198.19.250.10:8080/"))).toBe(`200 ${frontend.ips[0]}`);
    expect(await inNetns(`${lab.name}-frontend`, httpGet("http://198.19.251.10:8080/"))).toBe(`200 198.19.0.${nodeIndex}`);
  });

  test("the relay shows flows between the replica's pods by name and to the external host, from every node", async () => {
    const tls = `/run/flowlens-lab/${lab.name}/certs/client`;
    const wanted = [`${pod("frontend").name}->${pod("productcatalogservice").name}`, `${pod("frontend").name}->${pod("checkoutservice").name}`];
    wanted.push(`${pod("loadgenerator").name}->198.19.251.10`, `${pod("loadgenerator").name}->198.19.250.10`);
    let pairs = new Set<string>();
    let nodes = new Set<string>();
    let toExternal: Flow[] = [];
    const masqueraded = (f: Flow) => f.IP?.destination === "198.19.251.10" && Boolean(f.IP?.source_xlated);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      // New connections from the frontend pod, made while the agents run (the load generator's probes reuse
      // connections opened before the agents started, whose NAT binding no agent saw).
      await inPod(pod("frontend"), `${lab.name}-frontend`, httpGet("http://198.19.251.10:8080/"));
      await inPod(pod("frontend"), `${lab.name}-frontend`, httpGet("http://198.19.250.10:8080/"));
      const { stdout } = await run(FLOWLENS, ["observe", "--server", lab.relay, "--tls-ca", `${tls}/ca.crt`, "--tls-cert", `${tls}/tls.crt`,
        "--tls-key", `${tls}/tls.key`, "--last", "3000", "-o", "json"], { timeout: 30_000, maxBuffer: 64 << 20 });
      const flows = stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l).flow).filter(Boolean);
      pairs = new Set(flows.map((f) => `${f.source?.pod_name}->${f.destination?.pod_name ?? f.IP?.destination}`));
      nodes = new Set(flows.map((f) => f.node_name));
      toExternal = flows.filter((f: Flow) => f.source?.pod_name === pod("frontend").name && f.IP?.source === pod("frontend").ips[0]);
      if (wanted.every((w) => pairs.has(w)) && nodes.size >= 2 && toExternal.some(masqueraded) &&
        toExternal.some((f) => f.IP?.destination === "198.19.250.10")) break;
      await new Promise((r) => setTimeout(r, 3000));
    }
    expect(wanted.filter((w) => !pairs.has(w))).toEqual([]);
    expect([...nodes].sort()).toEqual(["lab-node-1", "lab-node-2"]);
    // Egress NAT: the masqueraded destination shows the node address as translated source, the listed one none.
    const nodeAddress = `198.19.0.${Number(pod("frontend").node.replace("lab-node-", ""))}`;
    const xlated = toExternal.filter(masqueraded);
    expect(xlated.length).toBeGreaterThan(0);
    for (const f of xlated) expect([f.IP?.source_xlated, f.flowlens?.source_xlated]).toEqual([nodeAddress, nodeAddress]);
    const listed = toExternal.filter((f) => f.IP?.destination === "198.19.250.10");
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.filter((f) => f.IP?.source_xlated || f.flowlens?.source_xlated)).toEqual([]);
  }, 90_000);

  test("the agents attach their eBPF programs to the lab's node cgroups", async () => {
    expect((await cgroupLinks(labCgroupIds)).length).toBeGreaterThan(0);
  });

  test("down removes every namespace, cgroup, nft table, link, BPF link and process", async () => {
    await labDown(lab.name);
    await expectNothingLeft(lab, pids);
    expect(await cgroupLinks(labCgroupIds)).toEqual([]);
  }, 60_000);
});

describe("the lab in sidecar mode", () => {
  const lab = newLab();
  let pids: number[] = [];

  beforeAll(async () => {
    await labUp(lab, ["--sidecars", "--replica-only"]);
    pids = statePids(lab.name);
  }, 180_000);

  afterAll(async () => {
    await labDown(lab.name);
  }, 60_000);

  test("HAProxy sidecars carry every connection to the original destination", async () => {
    const out = await inNetns(`${lab.name}-loadgenerator`, httpGet("http://198.19.100.10/"));
    expect(out).toMatch(/^200 /);
    const metadata = JSON.parse(fs.readFileSync(`/run/flowlens-lab/${lab.name}/metadata.json`, "utf8")) as Metadata;
    const catalog = metadata.pods.find((p) => p.labels.app === "productcatalogservice")!;
    // Inbound connections reach the catalog app from its own sidecar (on the pod's own address), not from the caller.
    const { stdout } = await run("ip", ["netns", "exec", `${lab.name}-productcatalogservice`, "ss", "-Htn", "state", "established", "sport", "=", ":3550"]);
    const peers = stdout.split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/).pop()!.replace(/:\d+$/, ""));
    expect(peers.length).toBeGreaterThan(0);
    expect(new Set(peers)).toEqual(new Set([catalog.ips[0]]));
    // The frontend's sidecar holds its outbound connections (uid 1337 sockets to the catalog).
    const { stdout: out2 } = await run("ip", ["netns", "exec", `${lab.name}-frontend`, "ss", "-Htne", "state", "established", "dport", "=", ":3550"]);
    expect(out2).toMatch(/uid:1337/);
  });

  test("down removes the sidecars with everything else", async () => {
    await labDown(lab.name);
    await expectNothingLeft(lab, pids);
  }, 60_000);
});
