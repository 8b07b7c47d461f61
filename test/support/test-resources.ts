/**
 * A ledger of the kernel resources a test process creates: network namespaces, host links, cgroup directories and
 * labs. Each process appends to its own file under ledgerDir() as it creates and removes them. A test removes its
 * own in afterAll; when its worker dies first (a crash, a timeout kill), nothing else would, so the suite's
 * global setup sweeps the ledgers of processes that are gone and removes what they still list.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** Where the ledgers are; FLOWLENS_TEST_LEDGER_DIR moves them (the ledger's own test uses a directory of its own). */
export function ledgerDir(): string {
  return process.env.FLOWLENS_TEST_LEDGER_DIR ?? "/run/flowlens-test/ledger";
}

/** netns: a name under /run/netns; link: an interface in the host's namespace; cgroup: a directory (its subtree goes with it); lab: a lab's name. */
export type ResourceKind = "netns" | "link" | "cgroup" | "lab";

interface Entry {
  op: "add" | "del";
  kind: ResourceKind;
  name: string;
}

function append(entry: Entry): void {
  fs.mkdirSync(ledgerDir(), { recursive: true });
  fs.appendFileSync(path.join(ledgerDir(), `${process.pid}.jsonl`), JSON.stringify(entry) + "\n");
}

/** Notes a resource before it is created, so a crash halfway through still leaves it listed. */
export function recordResource(kind: ResourceKind, name: string): void {
  append({ op: "add", kind, name });
}

/** Notes that a resource was removed. */
export function releaseResource(kind: ResourceKind, name: string): void {
  append({ op: "del", kind, name });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** What a ledger still lists, in creation order. Lines cut short by a crash are skipped. */
export function outstanding(text: string): Array<{ kind: ResourceKind; name: string }> {
  const live = new Map<string, { kind: ResourceKind; name: string }>();
  for (const line of text.split("\n")) {
    let e: Entry;
    try {
      e = JSON.parse(line) as Entry;
    } catch {
      continue;
    }
    const key = `${e.kind}\0${e.name}`;
    if (e.op === "add") live.set(key, { kind: e.kind, name: e.name });
    else live.delete(key);
  }
  return [...live.values()];
}

function quiet(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: "ignore", timeout: 60_000 }).status === 0;
}

/** Every directory of a cgroup subtree, deepest first. */
function subtree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    out.push(d);
  };
  walk(dir);
  return out;
}

function killProcesses(dirs: string[]): void {
  for (const d of dirs) {
    try {
      for (const pid of fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n")) if (pid) quiet("kill", ["-9", pid]);
    } catch {
      // gone meanwhile
    }
  }
}

function removeCgroup(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (let attempt = 0; attempt < 50; attempt++) {
    const dirs = subtree(dir);
    killProcesses(dirs);
    try {
      for (const d of dirs) fs.rmdirSync(d);
      return;
    } catch {
      // killed processes leave their cgroup once reaped
      execFileSync("sleep", ["0.1"]);
    }
  }
  throw new Error(`cannot remove cgroup ${dir}: processes still in it`);
}

/** Removes what one ledger lists: labs first (their own teardown), then cgroups' processes, namespaces, links, cgroups. */
function removeAll(items: Array<{ kind: ResourceKind; name: string }>, flowlens: string): void {
  const of = (kind: ResourceKind) => items.filter((i) => i.kind === kind).map((i) => i.name);
  for (const lab of of("lab")) quiet(flowlens, ["lab", "down", "--name", lab]);
  const cgroups = of("cgroup").reverse();
  // Processes first, so that deleting a namespace frees it and its links.
  for (const dir of cgroups) if (fs.existsSync(dir)) killProcesses(subtree(dir));
  for (const ns of of("netns")) if (fs.existsSync(path.join("/run/netns", ns))) quiet("ip", ["netns", "del", ns]);
  for (const link of of("link")) if (fs.existsSync(path.join("/sys/class/net", link))) quiet("ip", ["link", "del", link]);
  for (const dir of cgroups) removeCgroup(dir);
}

/**
 * Removes what the ledgers of exited processes still list and deletes those ledgers; returns a line per resource
 * removed. Ledgers of running processes (another suite running now) are left alone.
 */
export function sweepStaleResources(dir = ledgerDir(), flowlens = path.resolve(__dirname, "../../bin/flowlens")): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  for (const file of fs.readdirSync(dir)) {
    const pid = Number(file.replace(/\.jsonl$/, ""));
    if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
    const full = path.join(dir, file);
    const items = outstanding(fs.readFileSync(full, "utf8"));
    removeAll(items, flowlens);
    for (const i of items) removed.push(`${i.kind} ${i.name} (left by process ${pid})`);
    fs.rmSync(full);
  }
  return removed;
}
