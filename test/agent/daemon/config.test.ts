import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAgentConfig, parseByteSize, parseDuration } from "../../../agent/daemon/config";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flowlens-config-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("agent configuration", () => {
  test("defaults follow docs/DEVELOPING.md", () => {
    const c = parseAgentConfig(["--cgroup-root", dir], {})!;
    expect(c).toMatchObject({ listenAddress: ":4244", metricsAddress: ":9965", ringCapacity: 65536, flushIntervalMs: 5000, kubernetes: false, tcInterfaces: [] });
    expect(c.nodeName).toBe(os.hostname());
  });

  test("every flag can come from FLOWLENS_ variables and the command line wins", () => {
    const env = {
      FLOWLENS_NODE_NAME: "env-node",
      FLOWLENS_CGROUP_ROOT: dir,
      FLOWLENS_RING_CAPACITY: "1024",
      FLOWLENS_FLUSH_INTERVAL: "250ms",
      FLOWLENS_RINGBUF_BYTES: "8MiB",
      FLOWLENS_TC_INTERFACE: "eth0, eth1",
      FLOWLENS_KUBERNETES: "true",
    };
    const c = parseAgentConfig(["--node-name", "flag-node"], env)!;
    expect(c).toMatchObject({ nodeName: "flag-node", cgroupRoot: dir, ringCapacity: 1024, flushIntervalMs: 250, ringbufBytes: 8 << 20, tcInterfaces: ["eth0", "eth1"], kubernetes: true });
    expect(parseAgentConfig(["--tc-interface", "a", "--tc-interface", "b", "--cgroup-root", dir], env)!.tcInterfaces).toEqual(["a", "b"]);
  });

  test("egress NAT reporting is on unless --no-egress-nat or FLOWLENS_NO_EGRESS_NAT turns it off", () => {
    expect(parseAgentConfig(["--cgroup-root", dir], {})!.egressNat).toBe(true);
    expect(parseAgentConfig(["--cgroup-root", dir, "--no-egress-nat"], {})!.egressNat).toBe(false);
    expect(parseAgentConfig(["--cgroup-root", dir], { FLOWLENS_NO_EGRESS_NAT: "true" })!.egressNat).toBe(false);
  });

  test("the NAT hook goes to the agent's own namespace on the auto hook unless told where and which", () => {
    expect(parseAgentConfig(["--cgroup-root", dir], {})).toMatchObject({ egressNatNetns: [], egressNatHook: "auto" });
    const c = parseAgentConfig(["--cgroup-root", dir, "--egress-nat-netns", "/proc/self/ns/net", "--egress-nat-hook", "tracepoint"], {})!;
    expect(c).toMatchObject({ egressNatNetns: ["/proc/self/ns/net"], egressNatHook: "tracepoint" });
    expect(parseAgentConfig(["--cgroup-root", dir], { FLOWLENS_EGRESS_NAT_NETNS: "/proc/self/ns/net, /proc/thread-self/ns/net" })!.egressNatNetns).toEqual(["/proc/self/ns/net", "/proc/thread-self/ns/net"]);
    expect(() => parseAgentConfig(["--cgroup-root", dir, "--egress-nat-netns", "/run/netns/flowlens-none"], {})).toThrow("--egress-nat-netns /run/netns/flowlens-none: no such file");
    expect(() => parseAgentConfig(["--cgroup-root", dir, "--egress-nat-hook", "kprobe"], {})).toThrow("--egress-nat-hook kprobe: expected auto, conntrack, netfilter, tracepoint");
  });

  test("--help returns no config", () => {
    expect(parseAgentConfig(["--help"], {})).toBeNull();
  });

  test.each([
    [["--ring-capacity", "0"], /--ring-capacity "0"/],
    [["--ring-capacity", "lots"], /--ring-capacity "lots"/],
    [["--flush-interval", "5"], /--flush-interval "5": expected a positive duration/],
    [["--ringbuf-bytes", "3000"], /power of two/],
    [["--ringbuf-bytes", "8MB"], /--ringbuf-bytes "8MB"/],
    [["--tls-cert", "c.pem"], /--tls-cert and --tls-key go together/],
    [["--tls-client-ca", "ca.pem"], /--tls-client-ca needs --tls-cert/],
    [["--metadata-file", "x.json", "--kubernetes"], /exclusive/],
    [["--bogus"], /Unknown option '--bogus'/],
  ])("%j is refused with a message naming the flag", (args, message) => {
    expect(() => parseAgentConfig([...args, "--cgroup-root", dir], {})).toThrow(message);
  });

  test("a missing cgroup root is refused", () => {
    expect(() => parseAgentConfig(["--cgroup-root", path.join(dir, "nope")], {})).toThrow(/--cgroup-root .*no such directory/);
  });

  test("an unparseable boolean variable is refused", () => {
    expect(() => parseAgentConfig(["--cgroup-root", dir], { FLOWLENS_KUBERNETES: "maybe" })).toThrow(/FLOWLENS_KUBERNETES="maybe"/);
  });

  test("durations and sizes", () => {
    expect(parseDuration("1.5s", "x")).toBe(1500);
    expect(parseDuration("2m", "x")).toBe(120_000);
    expect(parseByteSize("256KiB", "x")).toBe(262144);
    expect(parseByteSize("4096", "x")).toBe(4096);
  });
});
