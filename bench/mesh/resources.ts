// Resource readings for the comparison: CPU from cgroup v2 cpu.stat (per
// pod, per node, per component), softirq, steal and total busy time from
// /proc/stat (softirq is not charged to any cgroup; steal is time the
// hypervisor gave this machine's CPUs to others), memory as the PSS of each process.
import * as fs from "node:fs";
import * as path from "node:path";
import { LabError } from "../../lab/errors";

const USER_HZ = 100;

export function cpuUsageUsec(cgroup: string): number {
  const m = fs.readFileSync(path.join(cgroup, "cpu.stat"), "utf8").match(/^usage_usec (\d+)$/m);
  if (!m) throw new LabError(`no usage_usec in ${cgroup}/cpu.stat; cgroup v2 must be mounted at /sys/fs/cgroup/unified`);
  return Number(m[1]);
}

export interface HostCpu { softirqS: number; stealS: number; busyS: number }

/** Seconds of softirq, of steal and of all non-idle time (steal included), summed over CPUs, since boot. */
export function hostCpu(): HostCpu {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0];
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return { softirqS: softirq / USER_HZ, stealS: steal / USER_HZ, busyS: (user + nice + system + irq + softirq + steal) / USER_HZ };
}

function pssKb(pid: number): number {
  try {
    const m = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").match(/^Pss:\s+(\d+) kB$/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // the process exited between listing and reading
  }
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

/** PSS in MB of every process in `cgroup` and below, keyed by command name. */
export function pssByCommand(cgroup: string): Record<string, number> {
  const out: Record<string, number> = {};
  const visit = (dir: string) => {
    for (const pid of fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number)) {
      const c = comm(pid);
      out[c] = (out[c] ?? 0) + pssKb(pid) / 1024;
    }
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) visit(path.join(dir, e.name));
  };
  visit(cgroup);
  return out;
}

export interface Snapshot { atMs: number; cpuUsec: Record<string, number>; host: HostCpu }

export function snapshot(cgroups: string[]): Snapshot {
  const cpuUsec: Record<string, number> = {};
  for (const c of cgroups) cpuUsec[c] = cpuUsageUsec(c);
  return { atMs: performance.now(), cpuUsec, host: hostCpu() };
}

/** Average cores used between two snapshots, per cgroup, plus softirq, steal and busy time. */
export function coresBetween(a: Snapshot, b: Snapshot): { cgroups: Record<string, number>; softirq: number; steal: number; busy: number } {
  const seconds = (b.atMs - a.atMs) / 1000;
  const cgroups: Record<string, number> = {};
  for (const c of Object.keys(a.cpuUsec)) cgroups[c] = (b.cpuUsec[c] - a.cpuUsec[c]) / 1e6 / seconds;
  const per = (k: keyof HostCpu) => (b.host[k] - a.host[k]) / seconds;
  return { cgroups, softirq: per("softirqS"), steal: per("stealS"), busy: per("busyS") };
}

function pidsBelow(cgroup: string): number[] {
  const pids = fs.readFileSync(path.join(cgroup, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  for (const e of fs.readdirSync(cgroup, { withFileTypes: true })) if (e.isDirectory()) pids.push(...pidsBelow(path.join(cgroup, e.name)));
  return pids;
}

/** CPU seconds (user + system) per command name in `cgroup`, to split a sidecar's share from its pod's. */
export function cpuSecondsByCommand(cgroup: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pid of pidsBelow(cgroup)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const c = comm(pid);
      out[c] = (out[c] ?? 0) + (Number(fields[11]) + Number(fields[12])) / USER_HZ;
    } catch {
      // exited between listing and reading
    }
  }
  return out;
}
