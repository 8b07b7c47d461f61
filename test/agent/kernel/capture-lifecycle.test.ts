/**
 * Loading, losses, privileges and detaching of the kernel capture.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULT_OBJECT_PATH, KernelCapture, OPTIONAL_PROGRAMS } from "../../../agent/kernel/capture";
import { loadNative } from "../../../agent/kernel/native";
import { decodeRecords, FL_FLOW_VALUE_SIZE, FL_RECORD_SIZE, FL_RECORD_VERSION } from "../../../agent/kernel/record";
import { bpftoolJson, RecordLog } from "./helpers";
import { TestPods } from "./pods";

const OPEN_CAPTURE = path.join(__dirname, "fixtures/open-capture.ts");

/** A bpftool listing; bpftool prints nothing for an empty one. */
const bpftoolList = <T = unknown>(args: string[]): T[] => bpftoolJson<T[]>(args) ?? [];

function linksOfPrograms(progIds: number[]): unknown[] {
  return bpftoolList<{ prog_id: number }>(["link", "show"]).filter((l) => progIds.includes(l.prog_id));
}

describe("KernelCapture lifecycle", () => {
  let pods: TestPods;

  beforeAll(() => {
    pods = new TestPods(["a", "b"], { firstHost: 20 });
  });
  afterAll(async () => {
    await pods?.destroy();
  });

  test("the TypeScript record layout matches the C header compiled into the addon", () => {
    const native = loadNative();
    expect([native.recordSize, native.recordVersion, native.flowValueSize]).toEqual([FL_RECORD_SIZE, FL_RECORD_VERSION, FL_FLOW_VALUE_SIZE]);
    expect(() => decodeRecords(Buffer.alloc(FL_RECORD_SIZE + 1))).toThrow(/not a multiple of the 152-byte record size/);
    expect(() => decodeRecords(Buffer.alloc(FL_RECORD_SIZE))).toThrow(/unknown kind 0/);
  });

  test("close() detaches every program from the cgroup and frees every link", async () => {
    const capture = KernelCapture.open({ cgroupRoot: pods.cgroupRoot });
    const progIds = capture.programStats().map((p) => p.id);
    try {
      expect(bpftoolList(["cgroup", "show", pods.cgroupRoot]).length).toBe(2);
      // 2 cgroup + 3 tracing links; egress NAT comes from conntrack events, with no program. Where open
      // sockets are read per network namespace, open() has proved it can, which made the iterator's link.
      expect(capture.natHook).toBe("conntrack");
      expect(linksOfPrograms(progIds).length).toBe(capture.socketIterator === "netns" ? 6 : 5);
    } finally {
      capture.close();
    }
    expect(bpftoolList(["cgroup", "show", pods.cgroupRoot])).toEqual([]);
    expect(linksOfPrograms(progIds)).toEqual([]);
  });

  test("a killed process leaves nothing attached", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", OPEN_CAPTURE, pods.cgroupRoot], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) resolve(out.trim());
        });
        child.on("exit", (code) => reject(new Error(`capture process exited with ${code}: ${out}`)));
      });
      expect(line).toMatch(/^attached /);
      expect(bpftoolList(["cgroup", "show", pods.cgroupRoot]).length).toBe(2);
      const progIds = line.slice("attached ".length).split(",").map(Number);
      const exited = new Promise((r) => child.on("exit", r));
      child.kill("SIGKILL");
      await exited;
      // Links are released with the last fd; give the kernel's deferred release a moment.
      for (let i = 0; i < 50 && bpftoolList(["cgroup", "show", pods.cgroupRoot]).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(bpftoolList(["cgroup", "show", pods.cgroupRoot])).toEqual([]);
      expect(linksOfPrograms(progIds)).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("loading without capabilities fails with an error naming the missing ones", () => {
    const r = spawnSync(
      "setpriv",
      ["--inh-caps=-all", "--bounding-set=-all", "--", process.execPath, "--import", "tsx", OPEN_CAPTURE, pods.cgroupRoot],
      { encoding: "utf8", timeout: 30000 },
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/loading BPF object .*flowlens\.bpf\.o failed: the process lacks CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN/);
    expect(r.stdout).toMatch(/run the agent as root or grant it/);
  });

  test("with only the chart's capabilities the capture opens, or says what reading open sockets needs on this kernel", () => {
    const r = spawnSync(
      "setpriv",
      ["--bounding-set=-all,+bpf,+perfmon,+net_admin", "--", process.execPath, "--import", "tsx", OPEN_CAPTURE, pods.cgroupRoot],
      { encoding: "utf8", timeout: 20000 },
    );
    const probe = new (loadNative().BpfObject)(DEFAULT_OBJECT_PATH, { optionalPrograms: OPTIONAL_PROGRAMS });
    const mapIterator = probe.programLoaded("fl_sock_flows");
    probe.close();
    if (mapIterator) {
      expect(r.stdout).toMatch(/^attached \d+/);
    } else {
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/this kernel refuses iterators over map elements, so open connections are read from each network namespace, which needs CAP_SYS_ADMIN to enter: .*Operation not permitted/);
    }
  });

  test("the programs load under a CPU profiler, whose signals would otherwise interrupt the verifier", async () => {
    const profDir = fs.mkdtempSync(path.join(os.tmpdir(), "flprof"));
    const child = spawn(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${profDir}`, "--import", "tsx", OPEN_CAPTURE, pods.cgroupRoot]);
    try {
      const firstLine = await new Promise<string>((resolve) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) resolve(out.split("\n")[0]);
        });
        child.on("exit", () => resolve(out));
      });
      expect(firstLine).toMatch(/^attached \d+/);
    } finally {
      child.kill("SIGKILL");
      fs.rmSync(profDir, { recursive: true, force: true });
    }
  }, 30_000);

  test("a tiny ring buffer overflows and the losses are counted", async () => {
    const capture = KernelCapture.open({ cgroupRoot: pods.cgroupRoot, ringBufferBytes: 4096, flushIntervalMs: 60_000 });
    try {
      const log = new RecordLog(capture);
      // 400 new UDP flows while this event loop is blocked: the 4 KiB ring holds about 25 records.
      pods.traffic("a", ["udp-send", pods.pod("b").ip, 6000, 10, 400, 400]);
      // The receiving pod's ingress runs in softirq and may trail the sender's exit: let it finish (the loop
      // stays blocked), so no record is submitted between the drain below and the counters read after it.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      capture.flush();
      const stats = capture.lossStats();
      const starts = log.records.filter((r) => r.kind !== "flush");
      expect(stats.ringbufLost).toBeGreaterThan(100);
      expect(starts.length).toBe(stats.events);
      expect(stats.events + stats.ringbufLost).toBeGreaterThanOrEqual(400);
    } finally {
      capture.close();
    }
  });

  test("TC programs on an interface observe the pod's packets and leave with close()", async () => {
    const a = pods.pod("a");
    const b = pods.pod("b");
    const capture = KernelCapture.open({ cgroupRoot: pods.cgroupRoot, tcInterfaces: [a.hostIf], flushIntervalMs: 60_000 });
    const progIds = capture.programStats().map((p) => p.id);
    try {
      const log = new RecordLog(capture);
      pods.traffic("a", ["udp-send", b.ip, 7000, 500, 2]);
      const flows = await log.waitFor("tc flush", (r) => r.kind === "flush" && r.hook === "tc" && r.dstPort === 7000);
      expect(flows[flows.length - 1]).toMatchObject({ srcAddr: a.ip, dstAddr: b.ip, packets: 2, bytes: 2 * 528, direction: "ingress" });
      // 2 cgroup + 3 tracing + 2 tcx links, and the socket-flow iterator's, made by the first flush.
      expect(linksOfPrograms(progIds).length).toBe(8);
    } finally {
      capture.close();
    }
    expect(linksOfPrograms(progIds)).toEqual([]);
  });

  /** Compiles fixtures/NAME.bpf.c into a temporary directory, hands the object's path to `use`, then removes it. */
  function withFixtureObject(name: string, use: (obj: string) => void): void {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flbpf"));
    try {
      const obj = path.join(dir, `${name}.bpf.o`);
      const multiarch = `/usr/include/${os.arch() === "arm64" ? "aarch64" : "x86_64"}-linux-gnu`;
      execFileSync("clang", ["-O2", "-g", "-target", "bpf", `-I${multiarch}`, "-c", path.join(__dirname, `fixtures/${name}.bpf.c`), "-o", obj]);
      use(obj);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  test("a program the verifier rejects fails the load with the end of the verifier log", () => {
    withFixtureObject("rejected", (obj) => {
      expect(() => new (loadNative().BpfObject)(obj)).toThrow(
        /^loading BPF object .*rejected\.bpf\.o failed: the kernel's verifier rejected program fl_rejected \(Invalid argument\); its log ends with:[\s\S]*R0 .* should have been in \[0, 3\]/,
      );
    });
  });

  test("a program listed as optional that the kernel refuses is left out and the rest loads", () => {
    withFixtureObject("optional", (obj) => {
      expect(() => new (loadNative().BpfObject)(obj)).toThrow(/verifier rejected program fl_rejected/);
      const loaded = new (loadNative().BpfObject)(obj, { optionalPrograms: ["fl_rejected"] });
      try {
        expect(loaded.programLoaded("fl_accepted")).toBe(true);
        expect(loaded.programLoaded("fl_rejected")).toBe(false);
      } finally {
        loaded.close();
      }
    });
  });

  test("bad options are rejected with what to fix", () => {
    expect(() => KernelCapture.open({ cgroupRoot: "/nonexistent/fl" })).toThrow(/cgroupRoot \/nonexistent\/fl does not exist/);
    expect(() => KernelCapture.open({ cgroupRoot: "/tmp" })).toThrow(/is not a cgroup v2 directory/);
    expect(() => KernelCapture.open({ cgroupRoot: pods.cgroupRoot, ringBufferBytes: 5000 })).toThrow(/power of two/);
    expect(() => KernelCapture.open({ cgroupRoot: pods.cgroupRoot, tcInterfaces: ["flnope0"] })).toThrow(/no network interface named flnope0/);
    expect(() => KernelCapture.open({ cgroupRoot: pods.cgroupRoot, objectPath: "/nonexistent.o" })).toThrow(/make bpf/);
  });
});
