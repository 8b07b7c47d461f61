// What the agents attach, read with bpftool: the links their processes hold
// while they run, and proof that none is left once they have stopped.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { LabError } from "../../lab/errors";

interface Link { id: number; type: string; cgroup_id?: number; pids?: { pid: number }[] }

function links(): Link[] {
  try {
    return JSON.parse(execFileSync("bpftool", ["-j", "link", "show"], { encoding: "utf8" })) as Link[];
  } catch (err) {
    throw new LabError(`bpftool -j link show failed (${(err as Error).message}); install bpftool (scripts/system-packages.txt)`);
  }
}

/** Inode numbers (cgroup ids) of `root` and every group below it. */
export function cgroupIds(root: string): Set<number> {
  const ids = new Set([fs.statSync(root).ino]);
  for (const e of fs.readdirSync(root, { withFileTypes: true })) if (e.isDirectory()) for (const id of cgroupIds(path.join(root, e.name))) ids.add(id);
  return ids;
}

export interface Attached {
  ids: number[];
  byType: Record<string, number>;
  /** The cgroups the cgroup links are attached to. */
  cgroupIds: number[];
}

/** Links held by `pids` or attached to one of `cgroups`. */
export function attachedLinks(pids: number[], cgroups: Set<number>): Attached {
  const held = links().filter((l) => (l.pids ?? []).some((p) => pids.includes(p.pid)) || (l.cgroup_id !== undefined && cgroups.has(l.cgroup_id)));
  const byType: Record<string, number> = {};
  for (const l of held) byType[l.type] = (byType[l.type] ?? 0) + 1;
  return { ids: held.map((l) => l.id), byType, cgroupIds: held.flatMap((l) => (l.cgroup_id === undefined ? [] : [l.cgroup_id])) };
}

/** Throws unless none of `ids` exists any more and nothing is attached to `cgroups`. */
export function assertDetached(ids: number[], cgroups: Set<number>, where: string): void {
  const left = links().filter((l) => ids.includes(l.id) || (l.cgroup_id !== undefined && cgroups.has(l.cgroup_id)));
  if (left.length > 0) {
    throw new LabError(`${where}: ${left.length} BPF link(s) still attached after the agents stopped (ids ${left.map((l) => l.id).join(", ")}); ` +
      "the configuration without the agent would not be clean; see bpftool link show");
  }
}
