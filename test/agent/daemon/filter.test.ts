import { compileFlowFilters, compileFilter, FlowFilterError } from "../../../agent/flows/filter";
import type { Flow, FlowFilter } from "../../../proto/types";

const web: Flow = {
  uuid: "u-web",
  verdict: "FORWARDED",
  IP: { source: "198.18.1.10", destination: "198.18.1.20", ipVersion: "IPv4" },
  l4: { TCP: { source_port: 41000, destination_port: 8080, flags: { SYN: true, ACK: true } } },
  source: { namespace: "shop", pod_name: "web-7d9c-abc", labels: ["app=web", "tier=front", "k8s:team=blue"], workloads: [{ name: "web", kind: "Deployment" }] },
  destination: { namespace: "shop", pod_name: "db-0", labels: ["app=db"], workloads: [{ name: "db", kind: "StatefulSet" }] },
  destination_service: { namespace: "shop", name: "db-primary" },
  traffic_direction: "EGRESS",
  is_reply: { value: false },
  node_name: "gke-pool-a-1",
};

const dropped: Flow = {
  uuid: "u-drop",
  verdict: "DROPPED",
  IP: { source: "2001:db8::5", destination: "2001:db8::9", ipVersion: "IPv6" },
  l4: { UDP: { source_port: 5353, destination_port: 53 } },
  source: { namespace: "dns", pod_name: "resolver-1", labels: ["app=dns", "canary"] },
  destination: {},
  traffic_direction: "INGRESS",
  is_reply: { value: true },
  node_name: "gke-pool-b-2",
};

const ping: Flow = {
  uuid: "u-icmp",
  verdict: "FORWARDED",
  IP: { source: "198.18.1.30", destination: "198.18.1.10", ipVersion: "IPv4" },
  l4: { ICMPv4: { type: 8, code: 0 } },
  node_name: "gke-pool-a-1",
};

const all = [web, dropped, ping];

function matching(filter: FlowFilter): string[] {
  const p = compileFilter(filter);
  return all.filter(p).map((f) => f.uuid!);
}

function errorOf(filter: FlowFilter): FlowFilterError {
  try {
    compileFilter(filter, "whitelist[0]");
  } catch (e) {
    if (e instanceof FlowFilterError) return e;
    throw e;
  }
  throw new Error(`filter ${JSON.stringify(filter)} was accepted`);
}

describe("flow filters", () => {
  test("an empty filter matches every flow", () => {
    expect(matching({})).toEqual(["u-web", "u-drop", "u-icmp"]);
    expect(matching({ source_ip: [], verdict: [] })).toEqual(["u-web", "u-drop", "u-icmp"]);
  });

  test("ip filters take addresses and CIDRs of both families", () => {
    expect(matching({ source_ip: ["198.18.1.10"] })).toEqual(["u-web"]);
    expect(matching({ source_ip: ["198.18.1.0/24"] })).toEqual(["u-web", "u-icmp"]);
    expect(matching({ destination_ip: ["2001:db8::/64"] })).toEqual(["u-drop"]);
    expect(matching({ destination_ip: ["198.18.1.10", "198.18.1.20"] })).toEqual(["u-web", "u-icmp"]);
    expect(matching({ source_ip: ["10.0.0.0/8"] })).toEqual([]);
  });

  test("pod filters match a namespace and a pod-name prefix", () => {
    expect(matching({ source_pod: ["shop/web"] })).toEqual(["u-web"]);
    expect(matching({ source_pod: ["shop/"] })).toEqual(["u-web"]);
    expect(matching({ destination_pod: ["shop/db-0"] })).toEqual(["u-web"]);
    expect(matching({ source_pod: ["other/web"] })).toEqual([]);
    expect(matching({ source_pod: ["shop/webx"] })).toEqual([]);
  });

  test("label selectors support equality, inequality, existence and sets", () => {
    expect(matching({ source_label: ["app=web"] })).toEqual(["u-web"]);
    expect(matching({ source_label: ["app==web,tier=front"] })).toEqual(["u-web"]);
    expect(matching({ source_label: ["app!=web"] })).toEqual(["u-drop", "u-icmp"]);
    expect(matching({ source_label: ["canary"] })).toEqual(["u-drop"]);
    expect(matching({ source_label: ["!canary"] })).toEqual(["u-web", "u-icmp"]);
    expect(matching({ source_label: ["app in (web, dns)"] })).toEqual(["u-web", "u-drop"]);
    expect(matching({ source_label: ["app notin (web)"] })).toEqual(["u-drop", "u-icmp"]);
    expect(matching({ source_label: ["app in (web,dns), !canary"] })).toEqual(["u-web"]);
    expect(matching({ source_label: ["team=blue"] })).toEqual(["u-web"]);
    expect(matching({ source_label: ["k8s:team=blue"] })).toEqual(["u-web"]);
    expect(matching({ destination_label: ["app=db"] })).toEqual(["u-web"]);
  });

  test("verdict, direction, protocol and ip version filters select by enum", () => {
    expect(matching({ verdict: ["DROPPED"] })).toEqual(["u-drop"]);
    expect(matching({ verdict: ["FORWARDED"] })).toEqual(["u-web", "u-icmp"]);
    expect(matching({ traffic_direction: ["INGRESS"] })).toEqual(["u-drop"]);
    expect(matching({ protocol: ["TCP"] })).toEqual(["u-web"]);
    expect(matching({ protocol: ["udp", "icmp"] })).toEqual(["u-drop", "u-icmp"]);
    expect(matching({ protocol: ["icmpv6"] })).toEqual([]);
    expect(matching({ ip_version: ["IPv6"] })).toEqual(["u-drop"]);
  });

  test("port filters match TCP and UDP ports", () => {
    expect(matching({ destination_port: ["8080"] })).toEqual(["u-web"]);
    expect(matching({ destination_port: ["53", "8080"] })).toEqual(["u-web", "u-drop"]);
    expect(matching({ source_port: ["5353"] })).toEqual(["u-drop"]);
    expect(matching({ source_port: ["8080"] })).toEqual([]);
  });

  test("tcp flag filters need every flag they set", () => {
    expect(matching({ tcp_flags: [{ SYN: true }] })).toEqual(["u-web"]);
    expect(matching({ tcp_flags: [{ SYN: true, ACK: true }] })).toEqual(["u-web"]);
    expect(matching({ tcp_flags: [{ SYN: true, FIN: true }] })).toEqual([]);
    expect(matching({ tcp_flags: [{ RST: true }, { ACK: true }] })).toEqual(["u-web"]);
  });

  test("reply filters skip flows whose reply status is unknown", () => {
    expect(matching({ reply: [true] })).toEqual(["u-drop"]);
    expect(matching({ reply: [false] })).toEqual(["u-web"]);
    expect(matching({ reply: [true, false] })).toEqual(["u-web", "u-drop"]);
  });

  test("node name filters accept wildcards", () => {
    expect(matching({ node_name: ["gke-pool-a-1"] })).toEqual(["u-web", "u-icmp"]);
    expect(matching({ node_name: ["gke-pool-*"] })).toEqual(["u-web", "u-drop", "u-icmp"]);
    expect(matching({ node_name: ["*-b-*"] })).toEqual(["u-drop"]);
    expect(matching({ node_name: ["gke.pool-a-1"] })).toEqual([]);
  });

  test("service, workload and uuid filters", () => {
    expect(matching({ destination_service: ["shop/db"] })).toEqual(["u-web"]);
    expect(matching({ source_service: ["shop/"] })).toEqual([]);
    expect(matching({ source_workload: [{ kind: "Deployment" }] })).toEqual(["u-web"]);
    expect(matching({ destination_workload: [{ name: "db", kind: "StatefulSet" }] })).toEqual(["u-web"]);
    expect(matching({ destination_workload: [{ name: "db", kind: "Deployment" }] })).toEqual([]);
    expect(matching({ uuid: ["u-icmp"] })).toEqual(["u-icmp"]);
  });

  test("fields in one filter are combined with AND", () => {
    expect(matching({ source_ip: ["198.18.1.0/24"], protocol: ["tcp"] })).toEqual(["u-web"]);
    expect(matching({ source_ip: ["198.18.1.0/24"], verdict: ["DROPPED"] })).toEqual([]);
  });

  test("whitelist filters are OR'd and the blacklist is subtracted", () => {
    const pred = compileFlowFilters([{ protocol: ["tcp"] }, { verdict: ["DROPPED"] }], [{ source_pod: ["dns/"] }]);
    expect(all.filter(pred).map((f) => f.uuid)).toEqual(["u-web"]);
    const onlyBlack = compileFlowFilters([], [{ protocol: ["icmp"] }]);
    expect(all.filter(onlyBlack).map((f) => f.uuid)).toEqual(["u-web", "u-drop"]);
    expect(all.filter(compileFlowFilters()).length).toBe(3);
  });

  test.each<[string, FlowFilter, string, string]>([
    ["an address that is not an IP", { source_ip: ["198.18.1.300"] }, "whitelist[0].source_ip[0]", "198.18.1.300"],
    ["a CIDR with a prefix too long", { destination_ip: ["198.18.1.0/33"] }, "whitelist[0].destination_ip[0]", "198.18.1.0/33"],
    ["a CIDR with a junk prefix", { destination_ip: ["198.18.1.0/x"] }, "whitelist[0].destination_ip[0]", "198.18.1.0/x"],
    ["a pod without a namespace", { source_pod: ["web"] }, "whitelist[0].source_pod[0]", "web"],
    ["a pod with an empty namespace", { destination_pod: ["/web"] }, "whitelist[0].destination_pod[0]", "/web"],
    ["an unknown verdict", { verdict: ["ALLOWED" as never] }, "whitelist[0].verdict[0]", "ALLOWED"],
    ["an unknown direction", { traffic_direction: ["SIDEWAYS" as never] }, "whitelist[0].traffic_direction[0]", "SIDEWAYS"],
    ["an unknown protocol", { protocol: ["http"] }, "whitelist[0].protocol[0]", "http"],
    ["a port out of range", { destination_port: ["70000"] }, "whitelist[0].destination_port[0]", "70000"],
    ["a port that is not a number", { source_port: ["", "80a"] }, "whitelist[0].source_port[0]", ""],
    ["an empty tcp flags filter", { tcp_flags: [{}] }, "whitelist[0].tcp_flags[0]", "{}"],
    ["an empty label selector", { source_label: [""] }, "whitelist[0].source_label[0]", ""],
    ["a label selector with a bad key", { source_label: ["app web"] }, "whitelist[0].source_label[0]", "app web"],
    ["a label selector with unbalanced parentheses", { source_label: ["app in (a,b"] }, "whitelist[0].source_label[0]", "app in (a,b"],
    ["a label selector with an empty term", { destination_label: ["app=a,,b=c"] }, "whitelist[0].destination_label[0]", "app=a,,b=c"],
    ["a label value with spaces", { source_label: ["app=we b"] }, "whitelist[0].source_label[0]", "app=we b"],
    ["a node name with spaces", { node_name: ["node a"] }, "whitelist[0].node_name[0]", "node a"],
    ["an empty workload", { source_workload: [{}] }, "whitelist[0].source_workload[0]", "{}"],
    ["a field Flowlens cannot match", { http_method: ["GET"] } as FlowFilter, "whitelist[0].http_method", "GET"],
  ])("%s is rejected with the field and value named", (_what, filter, field, valueText) => {
    const err = errorOf(filter);
    expect(err.field).toBe(field);
    expect(err.message).toContain(field);
    expect(err.message).toContain(valueText === "{}" ? "{}" : JSON.stringify(valueText).slice(1, -1));
  });

  test("the error names the list and index of the bad filter", () => {
    expect(() => compileFlowFilters([{}], [{}, { verdict: ["NOPE" as never] }])).toThrow(/blacklist\[1\]\.verdict\[0\]/);
  });
});
