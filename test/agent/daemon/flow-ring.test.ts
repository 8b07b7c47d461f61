import { FlowRing } from "../../../agent/daemon/flow-ring";
import { RateWindow } from "../../../agent/daemon/rate-window";

const flow = (n: number) => ({ entry: { flow: { uuid: `f${n}` } }, timeMs: n });

describe("flow ring", () => {
  test("keeps the newest events up to its capacity and counts every flow seen", () => {
    const ring = new FlowRing(3);
    for (let i = 1; i <= 5; i++) ring.push(flow(i));
    expect(ring.size).toBe(3);
    expect(ring.seenFlows).toBe(5);
    expect([...ring.events()].map((e) => e.entry?.flow.uuid)).toEqual(["f3", "f4", "f5"]);
    expect([...ring.eventsNewestFirst()].map((e) => e.entry?.flow.uuid)).toEqual(["f5", "f4", "f3"]);
  });

  test("lost-event notices are kept in order but are not counted as flows", () => {
    const ring = new FlowRing(4);
    ring.push(flow(1));
    ring.push({ lost: { source: "PERF_EVENT_RING_BUFFER", num_events_lost: 7 }, timeMs: 2 });
    expect(ring.seenFlows).toBe(1);
    expect([...ring.events()].map((e) => e.lost?.num_events_lost ?? e.entry?.flow.uuid)).toEqual(["f1", 7]);
  });

  test("subscribers see pushes until they unsubscribe", () => {
    const ring = new FlowRing(2);
    const seen: string[] = [];
    const stop = ring.subscribe((e) => seen.push(e.entry!.flow.uuid!));
    ring.push(flow(1));
    stop();
    ring.push(flow(2));
    expect(seen).toEqual(["f1"]);
  });

  test("a capacity that is not a positive integer is refused with the flag to fix", () => {
    expect(() => new FlowRing(0)).toThrow(/--ring-capacity/);
    expect(() => new FlowRing(1.5)).toThrow(/positive integer/);
  });

  test("the rate window averages complete seconds", () => {
    let now = 10_000;
    const rate = new RateWindow(2, () => now);
    rate.add(10);
    now += 1000;
    rate.add(30);
    expect(rate.perSecond()).toBe(5); // only the complete second (10) counts, over 2 s
    now += 1000;
    expect(rate.perSecond()).toBe(20);
    now += 5000;
    expect(rate.perSecond()).toBe(0);
  });
});
