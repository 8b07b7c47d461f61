import { AddressIds, FlowKeyTable, ipv4Number } from "../../../agent/daemon/flow-key-table";

describe("FlowKeyTable", () => {
  test("keeps exactly the newest `capacity` keys with their values through heavy eviction", () => {
    const capacity = 1000;
    const table = new FlowKeyTable(capacity, 2);
    const expected = new Map<string, number>();
    const order: string[] = [];
    let seed = 7;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let i = 0; i < 50_000; i++) {
      // Few distinct values per part, so probe runs collide and deletion shifts entries.
      const a = rand(300) * 65536 + rand(4);
      const b = rand(50) * 65536;
      const c = rand(3);
      const key = `${a}/${b}/${c}`;
      const slot = table.insert(a, b, c);
      table.values[slot * 2 + 1] = i;
      if (!expected.has(key)) {
        order.push(key);
        if (order.length > capacity) expected.delete(order.shift()!);
      }
      expected.set(key, i);
    }
    expect(table.size).toBe(capacity);
    for (const [key, value] of expected) {
      const [a, b, c] = key.split("/").map(Number);
      const slot = table.find(a, b, c);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(table.values[slot * 2 + 1]).toBe(value);
    }
    expect(table.find(299 * 65536 + 9, 0, 0)).toBe(-1);
  });

  test("a new key starts with zeroed values", () => {
    const table = new FlowKeyTable(1, 2);
    table.values[table.insert(1, 2, 3) * 2] = 5;
    const slot = table.insert(4, 5, 6);
    expect([table.values[slot * 2], table.values[slot * 2 + 1], table.find(1, 2, 3)]).toEqual([0, 0, -1]);
  });
});

describe("AddressIds", () => {
  test("IPv4 addresses are their 32-bit value and other addresses get distinct ids above it", () => {
    expect(ipv4Number("198.18.2.20")).toBe(0xc6120214);
    const ids = new AddressIds(2);
    expect(ids.endpoint("255.255.255.255", 4, 65535)).toBe(2 ** 48 - 1);
    const a = ids.id("fd00::1", 6);
    expect(a).toBeGreaterThanOrEqual(2 ** 32);
    expect(ids.id("fd00::1", 6)).toBe(a);
    expect(ids.id("fd00::2", 6)).not.toBe(a);
  });
});
