// Cgroup v2 groups for nodes, pods and the control plane. Every lab process
// lives under the lab's root group, so one write to cgroup.kill stops them all.
import * as fs from "node:fs";
import * as path from "node:path";
import type { StateFile } from "./state";

export function makeCgroup(state: StateFile, dir: string): void {
  if (!state.state.cgroups.includes(dir)) state.update((s) => s.cgroups.push(dir));
  fs.mkdirSync(dir, { recursive: true });
}

/** Kills every process under `root` and waits (bounded) until the group is empty. */
export async function killCgroupTree(root: string): Promise<void> {
  if (!fs.existsSync(root)) return;
  fs.writeFileSync(path.join(root, "cgroup.kill"), "1");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const events = fs.readFileSync(path.join(root, "cgroup.events"), "utf8");
    if (/^populated 0$/m.test(events)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`lab: processes under ${root} did not exit within 10 s; see ${path.join(root, "cgroup.procs")}`);
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
export function cgroupPids(dir: string): number[] {
  return fs
    .readFileSync(path.join(dir, "cgroup.procs"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map(Number);
}
