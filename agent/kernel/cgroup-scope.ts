/**
 * The observed cgroup v2 subtree: its id and depth (for the kernel's ancestor check on socket cgroups)
 * and the network namespaces its processes live in (to attribute drops of packets without a socket).
 */
import * as fs from "node:fs";
import * as path from "node:path";

export interface CgroupRoot {
  dir: string;
  /** cgroup v2 id: the directory's inode number. */
  id: bigint;
  /** Depth below the cgroup v2 mount's root (the root itself is 0). */
  level: number;
}

function cgroup2Mounts(): string[] {
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" "))
    .filter((f) => f.length > 8 && f[f.indexOf("-") + 1] === "cgroup2")
    .map((f) => f[4]);
}

export function resolveCgroupRoot(dir: string): CgroupRoot {
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch (err) {
    throw new Error(`cgroupRoot ${dir} does not exist (${(err as Error).message}); pass a cgroup v2 directory`);
  }
  const mount = cgroup2Mounts()
    .filter((m) => real === m || real.startsWith(m.endsWith("/") ? m : `${m}/`))
    .sort((a, b) => b.length - a.length)[0];
  if (!mount || !fs.existsSync(path.join(real, "cgroup.procs"))) {
    throw new Error(`cgroupRoot ${dir} is not a cgroup v2 directory; pass one under a cgroup2 mount (${cgroup2Mounts().join(", ") || "none mounted"})`);
  }
  const rel = path.relative(mount, real);
  return { dir: real, id: fs.statSync(real, { bigint: true }).ino, level: rel === "" ? 0 : rel.split(path.sep).length };
}

function pidsUnder(dir: string, out: Set<string>): void {
  let entries: fs.Dirent[];
  try {
    for (const pid of fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n")) if (pid) out.add(pid);
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // the cgroup went away while we walked it
  }
  for (const e of entries) if (e.isDirectory()) pidsUnder(path.join(dir, e.name), out);
}

/**
 * The network namespaces of every process in the subtree: inode number -> a path that enters it
 * (/proc/PID/ns/net of one of its processes).
 */
export function netnsUnder(dir: string): Map<number, string> {
  const pids = new Set<string>();
  pidsUnder(dir, pids);
  const found = new Map<number, string>();
  for (const pid of pids) {
    const nsPath = `/proc/${pid}/ns/net`;
    try {
      const m = /^net:\[(\d+)\]$/.exec(fs.readlinkSync(nsPath));
      if (m && !found.has(Number(m[1]))) found.set(Number(m[1]), nsPath);
    } catch {
      // the process exited meanwhile
    }
  }
  return found;
}
