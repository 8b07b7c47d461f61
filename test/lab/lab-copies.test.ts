// The benchmark's two-copy lab: both replica copies come up on the same nodes,
// each in its own cgroup subtree per node and calling only its own Services,
// the shared load generator's pod outside both, and `down` leaves nothing.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { createInfrastructure, down, startReplica } from "../../lab/lab";
import { copyCgroup, DEFAULT_OPTIONS, makePlan, podByApp, type LabPlan } from "../../lab/plan";
import { StateFile } from "../../lab/state";
import { recordResource, releaseResource } from "../support/test-resources";

const run = promisify(execFile);

async function netnsWithPrefix(prefix: string): Promise<string[]> {
  const { stdout } = await run("ip", ["netns", "list"]);
  return stdout.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(prefix));
}

/** An HTTP GET from inside a pod's namespace; resolves to "<status> <body bytes>". */
async function getFrom(netns: string, url: string): Promise<string> {
  // "<status> <bytes>", and the body too when the status is not 200 (the error message it carries).
  const script = `require("http").get(${JSON.stringify(url)}, r => { let b = ""; r.on("data", c => b += c); r.on("end", () => console.log(r.statusCode, Buffer.byteLength(b), r.statusCode === 200 ? "" : b.trim())); }).on("error", e => console.log("error", e.message));`;
  const { stdout } = await run("ip", ["netns", "exec", netns, process.execPath, "-e", script], { timeout: 20_000 });
  return stdout.trim();
}

/** Addresses of the peers connected to `port` in `netns`. */
async function peersOf(netns: string, port: number): Promise<string[]> {
  const { stdout } = await run("ip", ["netns", "exec", netns, "ss", "-Htn", "state", "established", "sport", "=", `:${port}`]);
  return stdout.split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/).pop()!.replace(/:\d+$/, ""));
}

describe("the lab with two replica copies", () => {
  const plan: LabPlan = makePlan({ ...DEFAULT_OPTIONS, name: `fl-copies-${randomBytes(3).toString("hex")}`, replicaOnly: true, copies: 2 });

  beforeAll(async () => {
    recordResource("lab", plan.options.name);
    const state = StateFile.create(plan.stateFile, plan.options.name, plan.dir, false);
    createInfrastructure(plan, state, () => undefined);
    await startReplica(plan, state, { rate: 1 }, () => undefined, false);
  }, 120_000);

  afterAll(async () => {
    await down(plan.options.name, () => undefined);
    releaseResource("lab", plan.options.name);
  }, 60_000);

  test("runs each copy's pods in its own subtree under every node, and the load generator's in neither", () => {
    for (const copy of plan.copies) {
      for (const node of plan.nodes) {
        const pods = plan.pods.filter((p) => p.copy === copy && p.node === node);
        expect(pods.length).toBeGreaterThan(0);
        expect(fs.readdirSync(copyCgroup(node, copy)).filter((e) => fs.statSync(path.join(copyCgroup(node, copy), e)).isDirectory()).sort())
          .toEqual(pods.map((p) => p.name).sort());
        for (const p of pods) expect(fs.readFileSync(path.join(p.cgroup, "cgroup.procs"), "utf8").trim()).not.toBe("");
      }
    }
    const loadgen = podByApp(plan, "loadgenerator");
    expect(loadgen.copy).toBeUndefined();
    for (const copy of plan.copies) for (const node of plan.nodes) expect(loadgen.cgroup.startsWith(`${copyCgroup(node, copy)}/`)).toBe(false);
  });

  test("each copy's frontend serves through its own Service address and calls its own copy's backends only", async () => {
    const loadgen = podByApp(plan, "loadgenerator");
    for (const copy of plan.copies) {
      const url = `http://${podByApp(plan, "frontend", copy).service!.clusterIp}/product/OLJCESPC7Z`;
      // Every pod listens before startReplica returns, so the very first page must be served too (a cart
      // that started before Redis listened reconnects on its first command: test/lab/redis-client.test.ts).
      for (let i = 0; i < 4; i++) expect(await getFrom(loadgen.netns, url)).toMatch(/^200 \d{4,}/);
    }
    for (const copy of plan.copies) {
      const catalog = podByApp(plan, "productcatalogservice", copy);
      const own = new Set(plan.pods.filter((p) => p.copy === copy).map((p) => p.ip));
      const peers = await peersOf(catalog.netns, catalog.service!.targetPort);
      expect(peers.length).toBeGreaterThan(0);
      expect(peers.filter((ip) => !own.has(ip))).toEqual([]);
    }
  }, 60_000);

  test("down removes both copies: every namespace, cgroup and file", async () => {
    await down(plan.options.name, () => undefined);
    expect(await netnsWithPrefix(`${plan.options.name}-`)).toEqual([]);
    expect(fs.existsSync(plan.cgroupRoot)).toBe(false);
    expect(fs.existsSync(plan.dir)).toBe(false);
    expect(fs.existsSync(plan.stateFile)).toBe(false);
    const { stdout: links } = await run("ip", ["-o", "link", "show"]);
    expect(links).not.toContain(plan.options.name);
  }, 60_000);
});
