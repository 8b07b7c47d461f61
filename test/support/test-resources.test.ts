// The test-resource ledger: what a test process that died before its cleanup left in the kernel is found and
// removed by the next run's sweep, and a running process's resources are left alone.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { outstanding, sweepStaleResources } from "./test-resources";

const FIXTURE = path.join(__dirname, "fixtures/leave-resources.ts");

/** A process's state letter from /proc, or "gone". */
function runningState(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "")[0];
  } catch {
    return "gone";
  }
}

describe("the test-resource ledger", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fl-ledger-"));
  let left: { netns: string; bridge: string; cgroup: string; sleeper: number } | undefined;

  afterAll(() => {
    // Whatever the assertions said, nothing of the fixture's stays.
    sweepStaleResources(dir);
    if (left) {
      spawnSync("ip", ["netns", "del", left.netns], { stdio: "ignore" });
      spawnSync("ip", ["link", "del", left.bridge], { stdio: "ignore" });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("replays adds and removals, skipping a line cut short", () => {
    const text = [
      { op: "add", kind: "netns", name: "a" },
      { op: "add", kind: "cgroup", name: "/x" },
      { op: "del", kind: "netns", name: "a" },
      { op: "add", kind: "link", name: "br" },
    ]
      .map((e) => JSON.stringify(e))
      .join("\n") + '\n{"op":"add","kind":"netns","na';
    expect(outstanding(text)).toEqual([
      { kind: "cgroup", name: "/x" },
      { kind: "link", name: "br" },
    ]);
  });

  test("removes the namespace, link, cgroup and processes of a process that exited without cleaning up", () => {
    const suffix = randomBytes(3).toString("hex");
    const out = execFileSync(process.execPath, ["--import", "tsx", FIXTURE, suffix], {
      env: { ...process.env, FLOWLENS_TEST_LEDGER_DIR: dir },
      encoding: "utf8",
      cwd: path.resolve(__dirname, "../.."),
    });
    left = JSON.parse(out.trim().split("\n").pop()!);
    const l = left!;
    expect(fs.existsSync(`/run/netns/${l.netns}`)).toBe(true);
    expect(fs.existsSync(`/sys/class/net/${l.bridge}`)).toBe(true);
    expect(fs.readFileSync(path.join(l.cgroup, "pod", "cgroup.procs"), "utf8").trim()).not.toBe("");

    // A ledger of this (running) process names a namespace that does not exist: it must be left as it is.
    const mine = path.join(dir, `${process.pid}.jsonl`);
    fs.writeFileSync(mine, JSON.stringify({ op: "add", kind: "netns", name: `flswlive${suffix}` }) + "\n");

    const removed = sweepStaleResources(dir);
    expect(removed.map((r) => r.split(" (")[0]).sort()).toEqual([`cgroup ${l.cgroup}`, `link ${l.bridge}`, `netns ${l.netns}`]);
    expect(fs.existsSync(`/run/netns/${l.netns}`)).toBe(false);
    expect(fs.existsSync(`/sys/class/net/${l.bridge}`)).toBe(false);
    expect(fs.existsSync(l.cgroup)).toBe(false);
    expect(runningState(l.sleeper)).not.toMatch(/^[RSD]$/); // gone, or a zombie its new parent has yet to reap
    expect(fs.readdirSync(dir)).toEqual([path.basename(mine)]);
    left = undefined;
  });
});
