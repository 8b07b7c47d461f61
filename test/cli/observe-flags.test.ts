// `flowlens observe` flags become the GetFlows request a relay receives.
import { observeRequest } from "../../cli/commands/observe";
import { UsageError } from "../../cli/lib/errors";
import { FlowPrinter } from "../../cli/lib/flow-format";
import { parseByteSize, parseDuration, parseTimeFlag } from "../../cli/lib/time";

const NOW = Date.parse("2026-05-01T12:00:00Z");

test("durations and RFC 3339 times are both accepted for --since and --until", () => {
  expect(parseDuration("1h30m", "--x")).toBe(5_400_000);
  expect(parseDuration("250ms", "--x")).toBe(250);
  expect(parseTimeFlag("5m", "--since", NOW)).toBe(NOW - 300_000);
  expect(parseTimeFlag("2026-05-01T11:00:00Z", "--since", NOW)).toBe(NOW - 3_600_000);
  expect(parseTimeFlag("2026-05-01T13:00:00+02:00", "--since", NOW)).toBe(NOW - 3_600_000);
  expect(() => parseTimeFlag("yesterday", "--since", NOW)).toThrow(/--since "yesterday" is neither a duration/);
  expect(parseByteSize("1GiB", "--m")).toBe(1024 ** 3);
  expect(() => parseByteSize("lots", "--history-max-bytes")).toThrow(/--history-max-bytes "lots" is not a size/);
});

test("without time flags the last 20 flows are asked for; -f alone follows from now", () => {
  expect(observeRequest([], NOW).request).toEqual({ follow: false, whitelist: [], blacklist: [], number: 20 });
  expect(observeRequest(["-f"], NOW).request).toEqual({ follow: true, whitelist: [], blacklist: [] });
  const r = observeRequest(["--since", "10m", "--until", "5m", "--last", "7"], NOW).request;
  expect(r.number).toBe(7);
  expect(r.since).toEqual({ seconds: (NOW - 600_000) / 1000, nanos: 0 });
  expect(r.until).toEqual({ seconds: (NOW - 300_000) / 1000, nanos: 0 });
});

test("a flag without a side matches either side, so it becomes two filters", () => {
  const { whitelist } = observeRequest(["--pod", "shop/cart", "--verdict", "dropped", "--to-port", "8080"], NOW).request;
  expect(whitelist).toEqual([
    { verdict: ["DROPPED"], destination_port: ["8080"], source_pod: ["shop/cart"] },
    { verdict: ["DROPPED"], destination_port: ["8080"], destination_pod: ["shop/cart"] },
  ]);
  const ns = observeRequest(["-n", "shop", "--from-label", "app=web,tier in (a,b)"], NOW).request.whitelist;
  expect(ns).toEqual([
    { source_label: ["app=web,tier in (a,b)"], source_pod: ["shop/"] },
    { source_label: ["app=web,tier in (a,b)"], destination_pod: ["shop/"] },
  ]);
});

test("--not moves only the next filter flag to the blacklist", () => {
  const r = observeRequest(["--protocol", "tcp", "--not", "--verdict", "FORWARDED", "--tcp-flags", "SYN", "--node-name", "gke-*"], NOW).request;
  expect(r.whitelist).toEqual([{ protocol: ["tcp"], tcp_flags: [{ SYN: true }], node_name: ["gke-*"] }]);
  expect(r.blacklist).toEqual([{ verdict: ["FORWARDED"] }]);
});

test("bad filter syntax names the flag, the value and what to use instead", () => {
  const cases: [string[], RegExp][] = [
    [["--verdict", "MAYBE"], /--verdict "MAYBE" is not a verdict; use one of FORWARDED/],
    [["--from-ip", "10.0.0.300"], /--from-ip "10.0.0.300" is not an IP address or CIDR/],
    [["--to-port", "70000"], /--to-port "70000" is not a port/],
    [["--traffic-direction", "sideways"], /must be ingress or egress/],
    [["--tcp-flags", "SYNACK"], /"SYNACK" is not a TCP flag/],
    [["--label", "a=(b"], /bad filter --from-label\/--label "a=\(b": unbalanced parentheses/],
    [["-o", "yaml"], /-o "yaml" is not an output format; use compact, json, table/],
    [["-f", "--until", "1m"], /--until and --follow contradict/],
    [["--since", "1m", "--until", "5m"], /--until \(5m\) is before --since \(1m\)/],
    [["--last", "ten"], /--last "ten" is not a count/],
    [["cart"], /unexpected argument "cart"; filters are flags, e.g. --pod cart/],
  ];
  for (const [argv, message] of cases) {
    let err: unknown;
    try {
      observeRequest(argv, NOW);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
  }
});

test("compact and table output carry byte and RTT columns; json carries RFC 3339 times", () => {
  const lines: string[] = [];
  const res = {
    flow: {
      time: { seconds: NOW / 1000, nanos: 5_000_000 },
      uuid: "u1",
      verdict: "FORWARDED" as const,
      IP: { source: "198.18.3.11", destination: "198.18.3.12" },
      l4: { TCP: { source_port: 40000, destination_port: 8080, flags: { SYN: true, ACK: true } } },
      source: { namespace: "shop", pod_name: "web-1" },
      traffic_direction: "EGRESS" as const,
      node_name: "node-a",
      flowlens: { bytes: 12_345, srtt_us: 1500 },
    },
    node_name: "node-a",
  };
  new FlowPrinter("compact", (l) => lines.push(l)).print(res);
  expect(lines[0]).toBe("May  1 12:00:00.005 [node-a] shop/web-1:40000 -> 198.18.3.12:8080 egress TCP SYN,ACK FORWARDED bytes=12.3kB rtt=1.5ms");
  new FlowPrinter("table", (l) => lines.push(l)).print(res);
  expect(lines[1]).toMatch(/^TIMESTAMP\s+NODE\s+SOURCE\s+DESTINATION\s+DIRECTION\s+PROTO\s+VERDICT\s+TCP FLAGS\s+BYTES\s+RTT$/);
  expect(lines[2]).toMatch(/12\.3kB\s+1\.5ms$/);
  new FlowPrinter("json", (l) => lines.push(l)).print(res);
  expect(JSON.parse(lines[3]).flow.time).toBe("2026-05-01T12:00:00.005000000Z");
});

test("compact and table output show the source after egress NAT when the flow carries it", () => {
  const lines: string[] = [];
  const res = {
    flow: {
      time: { seconds: NOW / 1000, nanos: 0 },
      verdict: "FORWARDED" as const,
      IP: { source: "198.18.3.11", destination: "198.18.3.200", source_xlated: "198.18.3.1" },
      l4: { TCP: { source_port: 40000, destination_port: 443, flags: { SYN: true } } },
      source: { namespace: "shop", pod_name: "web-1" },
      traffic_direction: "EGRESS" as const,
      node_name: "node-a",
      flowlens: { bytes: 60, source_xlated: "198.18.3.1" },
    },
  };
  new FlowPrinter("compact", (l) => lines.push(l)).print(res);
  expect(lines[0]).toBe("May  1 12:00:00.000 [node-a] shop/web-1:40000 -> 198.18.3.1 -> 198.18.3.200:443 egress TCP SYN FORWARDED bytes=60B rtt=-");
  new FlowPrinter("table", (l) => lines.push(l)).print(res);
  expect(lines[2]).toMatch(/ shop\/web-1:40000 -> 198\.18\.3\.1 {2,}198\.18\.3\.200:443 /);
});
