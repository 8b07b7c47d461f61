// Cgroup v2 groups for nodes, pods and the control plane. Every lab process
// lives under the lab's root group, so one write to cgroup.kill stops them all.
import * as fs from "node:fs";
import * as path from "node:path";
import type { StateFile } from "./state";
import { LabError } from "./errors";

export function makeCgroup(state: StateFile, dir: string): void {
  if (!state.state.cgroups.includes(dir)) state.update((s) => s.cgroups.push(dir));
  fs.mkdirSync(dir, { recursive: true });
}

function populated(root: string): boolean {
  return !/^populated 0$/m.test(fs.readFileSync(path.join(root, "cgroup.events"), "utf8"));
}

async function waitEmpty(root: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (populated(root)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Every process in `root` and below. */
export function treePids(root: string): number[] {
  const pids = cgroupPids(root);
  for (const e of fs.readdirSync(root, { withFileTypes: true })) if (e.isDirectory()) pids.push(...treePids(path.join(root, e.name)));
  return pids;
}

/**
 * Stops every process under `root`: SIGTERM first so the agents detach their
 * BPF programs and the sidecars close cleanly, then cgroup.kill for the rest.
 */
export async function killCgroupTree(root: string): Promise<void> {
  if (!fs.existsSync(root)) return;
  for (const pid of treePids(root)) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  if (await waitEmpty(root, 3000)) return;
  fs.writeFileSync(path.join(root, "cgroup.kill"), "1");
  if (!(await waitEmpty(root, 10_000))) {
    throw new LabError(`processes under ${root} did not exit within 10 s; see ${path.join(root, "cgroup.procs")}`);
  }
}

/** Removes `root` and every group below it, deepest first. */
export function removeCgroupTree(root: string): void {
  if (!fs.existsSync(root)) return;
  for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(path.join(root, entry.name));
  }
  fs.rmdirSync(root);
}

/** Processes currently in `dir` (not its children). */
function cgroupPids(dir: string): number[] {
  return fs
    .readFileSync(path.join(dir, "cgroup.procs"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map(Number);
}
