// The lab's address plan and the benchmark's percentile arithmetic, checked
// without building anything.
import { copyCgroup, copyServiceCidr, DEFAULT_OPTIONS, makePlan, podByApp } from "../../lab/plan";
import { summarize } from "../../bench/mesh/stats";
import { SERVICES } from "../../lab/topology";

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/");
  const toInt = (a: string) => a.split(".").reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const mask = bits === "0" ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(base) & mask) >>> 0);
}

describe("the lab plan", () => {
  test("every pod gets a unique address in its node's pod range inside 198.19.0.0/16", () => {
    for (const nodes of [2, 3, 8]) {
      const plan = makePlan({ ...DEFAULT_OPTIONS, nodes });
      const ips = plan.pods.map((p) => p.ip);
      expect(new Set(ips).size).toBe(ips.length);
      for (const p of plan.pods) {
        expect(inCidr(p.ip, "198.19.0.0/16")).toBe(true);
        expect(inCidr(p.ip, p.node.podCidr)).toBe(true);
        expect(p.ip).not.toBe(p.node.gateway);
      }
    }
  });

  test("every Service keeps microservices-demo's port and target port on its own cluster IP", () => {
    const plan = makePlan(DEFAULT_OPTIONS);
    const services = plan.pods.filter((p) => p.service).map((p) => p.service!);
    expect(services.map((s) => s.name).sort()).toEqual(SERVICES.map((s) => s.name).sort());
    expect(new Set(services.map((s) => s.clusterIp)).size).toBe(services.length);
    expect(services.find((s) => s.name === "frontend")).toMatchObject({ port: 80, targetPort: 8080 });
    expect(services.find((s) => s.name === "emailservice")).toMatchObject({ port: 5000, targetPort: 8080 });
    for (const s of services) expect(inCidr(s.clusterIp, "198.19.100.0/24")).toBe(true);
  });

  test("with more than two nodes every node gets pods", () => {
    const plan = makePlan({ ...DEFAULT_OPTIONS, nodes: 4 });
    expect(new Set(plan.pods.map((p) => p.node.name))).toEqual(new Set(plan.nodes.map((n) => n.name)));
  });

  test("pods land on at least two nodes, each under its node's cgroup", () => {
    const plan = makePlan(DEFAULT_OPTIONS);
    expect(new Set(plan.pods.map((p) => p.node.name)).size).toBe(2);
    for (const p of plan.pods) expect(p.cgroup).toBe(`/sys/fs/cgroup/unified/flowlens-lab/${p.node.name}/${p.name}`);
  });

  test("two replica copies share the nodes but each has its own cgroup subtree per node and its own addresses", () => {
    const plan = makePlan({ ...DEFAULT_OPTIONS, copies: 2 });
    expect(plan.copies).toEqual(["a", "b"]);
    const ips = plan.pods.map((p) => p.ip);
    expect(new Set(ips).size).toBe(ips.length);
    expect(new Set(plan.pods.map((p) => p.netns)).size).toBe(plan.pods.length);
    expect(new Set(plan.pods.map((p) => `${p.node.name}/${p.hostVeth}`)).size).toBe(plan.pods.length);
    for (const copy of plan.copies) {
      const mine = plan.pods.filter((p) => p.copy === copy);
      expect(mine.map((p) => p.app).sort()).toEqual(SERVICES.map((s) => s.name).sort());
      for (const p of mine) {
        expect(p.cgroup).toBe(`${copyCgroup(p.node, copy)}/${p.name}`);
        expect(inCidr(p.ip, p.node.podCidr)).toBe(true);
        expect(inCidr(p.service!.clusterIp, copyServiceCidr(plan, copy))).toBe(true);
      }
    }
    // The copies' placement is the same, so they differ only in addresses.
    const placement = (copy: string) => plan.pods.filter((p) => p.copy === copy).map((p) => `${p.app}@${p.node.name}`);
    expect(placement("b")).toEqual(placement("a"));
    // The load generator belongs to neither copy, so an agent observing one copy's subtree never sees it.
    const shared = plan.pods.filter((p) => p.copy === undefined);
    expect(shared.map((p) => p.app)).toEqual(["loadgenerator"]);
    for (const copy of plan.copies) for (const n of plan.nodes) expect(shared[0].cgroup.startsWith(`${copyCgroup(n, copy)}/`)).toBe(false);
  });

  test("one copy (the lab's default) keeps every pod directly under its node and names no copies", () => {
    const plan = makePlan(DEFAULT_OPTIONS);
    expect(plan.copies).toEqual([]);
    expect(plan.pods.every((p) => p.copy === undefined)).toBe(true);
    expect(podByApp(plan, "frontend").ip).toBe("198.19.1.10");
    expect(podByApp(plan, "frontend").service!.clusterIp).toBe("198.19.100.10");
    expect(() => copyServiceCidr(plan, "a")).toThrow(/no replica copy "a"/);
  });

  test("a bad lab name, node or copy count is rejected with what to use instead", () => {
    expect(() => makePlan({ ...DEFAULT_OPTIONS, copies: 3 })).toThrow(/3 replica copies is not supported: the lab runs 1, the benchmark 2/);
    expect(() => makePlan({ ...DEFAULT_OPTIONS, name: "Lab_1" })).toThrow(/lab name "Lab_1" is invalid: use 2-31 lowercase/);
    expect(() => makePlan({ ...DEFAULT_OPTIONS, nodes: 1 })).toThrow(/--nodes 1 is out of range: the lab runs 2 to 8 nodes/);
  });
});

describe("latency percentiles", () => {
  test("use the nearest rank over every sample", () => {
    const samples = Array.from({ length: 1000 }, (_, i) => (1000 - i) * 1000);
    const s = summarize(samples);
    expect(s).toEqual({ count: 1000, p50Ms: 500, p90Ms: 900, p99Ms: 990, maxMs: 1000 });
  });

  test("of no samples are not numbers rather than zero", () => {
    expect(summarize([]).p99Ms).toBeNaN();
  });
});
