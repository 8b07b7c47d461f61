import { BoundedMap } from "../../../agent/daemon/bounded-map";

describe("BoundedMap", () => {
  test("a new key beyond capacity evicts the oldest inserted key", () => {
    const m = new BoundedMap<string, number>(3);
    for (const k of ["a", "b", "c", "d"]) m.set(k, k.charCodeAt(0));
    expect(m.size).toBe(3);
    expect(m.has("a")).toBe(false);
    expect([m.get("b"), m.get("c"), m.get("d")]).toEqual([98, 99, 100]);
  });

  test("updating an existing key keeps every key and its insertion place", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1);
    m.set("b", 2);
    m.set("a", 3);
    expect([m.size, m.get("a"), m.get("b")]).toEqual([2, 3, 2]);
    m.set("c", 4);
    expect([m.has("a"), m.get("b"), m.get("c")]).toEqual([false, 2, 4]);
  });

  test("stays bounded over many more keys than its capacity", () => {
    const m = new BoundedMap<number, number>(1000);
    for (let i = 0; i < 100_000; i++) m.set(i, i);
    expect(m.size).toBe(1000);
    expect(m.get(98_999)).toBeUndefined();
    expect(m.get(99_000)).toBe(99_000);
  });

  test("a capacity that is not a positive integer is refused", () => {
    expect(() => new BoundedMap(0)).toThrow(/positive integer/);
  });
});
