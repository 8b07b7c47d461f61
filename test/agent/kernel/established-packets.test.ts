/**
 * An established connection's packets are counted by TCP's own counters and usually have nothing to note:
 * the cgroup_skb programs answer them from the socket's storage cache, read directly, instead of calling
 * bpf_sk_storage_get. A packet with something to note (a flag new for its direction, SYN, FIN, RST) still
 * takes the helper's path.
 */
import { KernelCapture } from "../../../agent/kernel/capture";
import { TCP_FLAGS, type KernelRecord } from "../../../agent/kernel/record";
import { bpftoolJson, RecordLog } from "./helpers";
import { TestPods } from "./pods";

const PORT = 5301;
const ROUND_TRIPS = 2000;
const { SYN, ACK, PSH, FIN } = TCP_FLAGS;

describe("established connections' packets", () => {
  let pods: TestPods;
  let capture: KernelCapture;
  let log: RecordLog;

  beforeAll(async () => {
    pods = new TestPods(["a", "b"]);
    capture = KernelCapture.open({ cgroupRoot: pods.cgroupRoot, flushIntervalMs: 60_000 });
    log = new RecordLog(capture);
    await pods.spawnTraffic("b", ["tcp-echo-server", pods.pod("b").ip, PORT]);
  });

  afterAll(async () => {
    capture?.close();
    await pods?.destroy();
  });

  test("the programs as the kernel verified them read the socket's storage cache themselves", () => {
    const cgroupPrograms = capture.programStats().filter((p) => /^fl_cgroup_(ingress|egress)$/.test(p.name));
    expect(cgroupPrograms.map((p) => p.name).sort()).toEqual(["fl_cgroup_egress", "fl_cgroup_ingress"]);
    for (const prog of cgroupPrograms) {
      const mapIds = bpftoolJson<{ map_ids: number[] }>(["prog", "show", "id", String(prog.id)])!.map_ids;
      const socks = mapIds.find((id) => bpftoolJson<{ name: string }>(["map", "show", "id", String(id)])!.name === "fl_socks");
      expect(socks).toBeDefined();
      const insns = bpftoolJson<Array<{ disasm: string }>>(["prog", "dump", "xlated", "id", String(prog.id)])!.map((i) => i.disasm);
      // The helper's path only hands the map to the call; the direct read loads the map's cache slot index
      // (a u16 field) from it. Without the kernel function or the types the read needs, libbpf and the
      // verifier leave that code out.
      const readsCacheIndex = insns.some((insn, i) => {
        const m = /^(?:\(\w+\) )?(r\d) = map\[id:(\d+)\]$/.exec(insn);
        return m !== null && Number(m[2]) === socks && new RegExp(`^(?:\\(\\w+\\) )?r\\d = \\*\\(u16 \\*\\)\\(${m[1]} \\+\\d+\\)$`).test(insns[i + 1] ?? "");
      });
      expect({ program: prog.name, readsCacheIndex }).toEqual({ program: prog.name, readsCacheIndex: true });
    }
  });

  test("round trips on an established connection are counted, with the flags first seen mid-connection", async () => {
    const a = pods.pod("a");
    const b = pods.pod("b");
    pods.traffic("a", ["tcp-rr-client", b.ip, PORT, 1, ROUND_TRIPS]);
    const toServer = (direction: string) => (r: KernelRecord) =>
      r.kind === "flush" && r.srcAddr === a.ip && r.dstAddr === b.ip && r.dstPort === PORT && r.direction === direction;
    const sent = (await log.waitFor("client egress", (r) => toServer("egress")(r) && r.packets >= ROUND_TRIPS)).pop()!;
    const received = (await log.waitFor("server ingress", (r) => toServer("ingress")(r) && r.packets >= ROUND_TRIPS)).pop()!;
    // Each request goes out in its own segment: the SYN, the requests, ACKs and the FIN.
    expect(sent.packets).toBeGreaterThanOrEqual(ROUND_TRIPS + 2);
    expect(received).toMatchObject({ srcPort: sent.srcPort, packets: sent.packets, bytes: sent.bytes });
    // PSH first appears on the first request, after the handshake: a flag new for the direction is noted.
    for (const flow of [sent, received]) expect(flow.tcpFlags & (SYN | ACK | PSH | FIN)).toBe(SYN | ACK | PSH | FIN);
    const replies = (await log.waitFor(
      "server egress",
      (r) => r.kind === "flush" && r.srcAddr === b.ip && r.dstAddr === a.ip && r.dstPort === sent.srcPort && r.direction === "egress" && r.packets >= ROUND_TRIPS,
    )).pop()!;
    expect(replies.bytes).toBeGreaterThanOrEqual(ROUND_TRIPS * 64);
    expect(replies.tcpFlags & (ACK | PSH | FIN)).toBe(ACK | PSH | FIN);
  });
});
