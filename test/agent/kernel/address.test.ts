import { formatAddress, formatIpv6 } from "../../../agent/kernel/address";

const v6 = (text: string): Buffer => {
  const [head, tail = ""] = text.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = text.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  const buf = Buffer.alloc(16);
  groups.forEach((g, i) => buf.writeUInt16BE(parseInt(g, 16), i * 2));
  return buf;
};

describe("record addresses", () => {
  test.each([
    ["::", "::"],
    ["::1", "::1"],
    ["2001:db8::1", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1"],
    ["fe80:0:0:0:1:0:0:0", "fe80::1:0:0:0"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
  ])("IPv6 %s is written in its RFC 5952 form %s", (input, expected) => {
    expect(formatIpv6(v6(input), 0)).toBe(expected);
  });

  test("IPv4-mapped addresses are written as plain IPv4 and unknown families as empty", () => {
    const mapped = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 1, 10]);
    expect(formatAddress(mapped, 0, 4)).toBe("198.18.1.10");
    expect(formatAddress(mapped, 0, 0)).toBe("");
  });
});
