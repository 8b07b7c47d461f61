// The server-side service map: workloads, client -> server edges and rates.
import { ServiceMapAggregator, mapOfWindow } from "../../ui/server/service-map";
import { makeFlow } from "./flow-factory";

const frontend = { ns: "shop", pod: "frontend-6d8f7c9b5d-x2k4p", ip: "198.18.5.10" };
const cart = { ns: "shop", pod: "cart-7b9c8d6f4-q8w2e", ip: "198.18.5.11", workload: "cart" };
const redis = { ns: "data", pod: "redis-0", ip: "198.18.5.12" };
const NOW = 1_800_000_000_000;

describe("ServiceMapAggregator", () => {
  test("pods of one workload become one node, named after the workload", () => {
    const agg = new ServiceMapAggregator();
    agg.add(makeFlow({ src: frontend, dst: cart, dport: 8080, timeMs: NOW }), NOW);
    agg.add(makeFlow({ src: { ...frontend, pod: "frontend-6d8f7c9b5d-zzzzz" }, dst: cart, dport: 8080, timeMs: NOW }), NOW);
    const map = agg.snapshot(NOW);
    expect(map.nodes.map((n) => n.id).sort()).toEqual(["shop/cart", "shop/frontend"]);
    expect(map.edges).toHaveLength(1);
    expect(map.edges[0]).toMatchObject({ source: "shop/frontend", target: "shop/cart", ports: [8080] });
  });

  test("a reply is counted on its connection's client -> server edge", () => {
    const agg = new ServiceMapAggregator();
    const reply = makeFlow({ src: cart, dst: frontend, sport: 8080, dport: 51000, timeMs: NOW });
    reply.is_reply = { value: true };
    agg.add(makeFlow({ src: frontend, dst: cart, dport: 8080, timeMs: NOW }), NOW);
    agg.add(reply, NOW);
    const map = agg.snapshot(NOW);
    expect(map.edges.map((e) => e.id)).toEqual(["shop/frontend->shop/cart"]);
    expect(map.edges[0].flowsPerSec).toBeCloseTo(0.2);
  });

  test("rates cover the window and byte counters are turned into increments", () => {
    const agg = new ServiceMapAggregator({ windowSeconds: 10 });
    for (let i = 0; i < 10; i++) {
      const f = makeFlow({ src: cart, dst: redis, sport: 40000, dport: 6379, bytes: (i + 1) * 1000, srttUs: 200, timeMs: NOW - i * 100 });
      f.socket_cookie = 77;
      agg.add(f, NOW);
    }
    // A flow older than the window adds a node but no rate.
    agg.add(makeFlow({ src: frontend, dst: redis, dport: 6379, timeMs: NOW - 60_000 }), NOW);
    const map = agg.snapshot(NOW);
    const edge = map.edges.find((e) => e.id === "shop/cart->data/redis")!;
    expect(edge.flowsPerSec).toBe(1);
    expect(edge.bytesPerSec).toBe(1000);
    expect(edge.rttUs).toBe(200);
    expect(map.edges.find((e) => e.id === "shop/frontend->data/redis")!.flowsPerSec).toBe(0);
    expect(agg.flowsPerSecond(NOW)).toBe(1);
  });

  test("dropped flows mark the edge and both workloads", () => {
    const agg = new ServiceMapAggregator();
    agg.add(makeFlow({ src: frontend, dst: redis, dport: 6379, verdict: "DROPPED", timeMs: NOW }), NOW);
    const map = agg.snapshot(NOW);
    expect(map.edges[0].drops).toBe(1);
    expect(map.nodes.every((n) => n.drops === 1)).toBe(true);
  });

  test("workloads idle longer than the idle time leave the map", () => {
    const agg = new ServiceMapAggregator({ idleMs: 1000 });
    agg.add(makeFlow({ src: frontend, dst: cart, dport: 8080, timeMs: NOW }), NOW);
    expect(agg.snapshot(NOW + 500).nodes).toHaveLength(2);
    expect(agg.snapshot(NOW + 5000).nodes).toHaveLength(0);
  });

  test("a past window's rates are its totals over its length", () => {
    const flows = Array.from({ length: 120 }, (_, i) => makeFlow({ src: frontend, dst: cart, dport: 8080, timeMs: NOW - 3600_000 + i * 1000 }));
    const map = mapOfWindow(flows, NOW - 3600_000, NOW);
    expect(map.windowSeconds).toBe(3600);
    expect(map.edges[0].flowsPerSec).toBeCloseTo(120 / 3600, 2);
  });
});
