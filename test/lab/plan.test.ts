// The lab's address plan and the benchmark's percentile arithmetic, checked
// without building anything.
import { DEFAULT_OPTIONS, makePlan } from "../../lab/plan";
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

  test("a bad lab name or node count is rejected with what to use instead", () => {
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
