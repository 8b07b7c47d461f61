// Starting lab processes: each one joins its cgroup before it execs (so no
// packet it sends escapes its pod's accounting), then enters its network
// namespace and drops to an unprivileged uid where it needs no privilege.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { StateFile } from "./state";
import { LabError } from "./errors";

export interface ProcessSpec {
  what: string;
  cgroup: string;
  netns?: string;
  /** Numeric uid/gid to run as; omitted keeps root (the eBPF agent needs it). */
  uid?: number;
  /** Scheduling niceness (-20..19), set before privileges are dropped. @default 0 */
  nice?: number;
  command: string[];
  env?: Record<string, string>;
  logFile: string;
}

export const NOBODY = 65534;

const ENTER_CGROUP = 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"';

export function startProcess(state: StateFile, spec: ProcessSpec): number {
  const argv: string[] = [];
  if (spec.netns) argv.push("ip", "netns", "exec", spec.netns);
  if (spec.nice) argv.push("nice", "-n", String(spec.nice));
  if (spec.uid !== undefined) argv.push("setpriv", `--reuid=${spec.uid}`, `--regid=${spec.uid}`, "--clear-groups", "--no-new-privs");
  argv.push(...spec.command);
  fs.mkdirSync(path.dirname(spec.logFile), { recursive: true });
  fs.mkdirSync(spec.cgroup, { recursive: true });
  const log = fs.openSync(spec.logFile, "a");
  const child = spawn("sh", ["-c", ENTER_CGROUP, "sh", spec.cgroup, ...argv], {
    detached: true,
    stdio: ["ignore", log, log],
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...spec.env },
  });
  fs.closeSync(log);
  if (child.pid === undefined) throw new LabError(`could not start ${spec.what} (${spec.command[0]}); see ${spec.logFile}`);
  child.unref();
  const pid = child.pid;
  state.update((s) => s.processes.push({ pid, what: spec.what }));
  return pid;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The end of a log file, for error messages (the lab's logs go with it on teardown). */
export function logTail(file: string, lines = 5): string {
  try {
    const text = fs.readFileSync(file, "utf8").trim();
    return text ? `${file} ends with:\n${text.split("\n").slice(-lines).join("\n")}` : `${file} is empty`;
  } catch {
    return `${file} was not written`;
  }
}

/** Resolves once `check` holds, or fails after `timeoutMs` with `what` in the message. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, logFile: string, pid?: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (pid !== undefined && !isAlive(pid)) throw new LabError(`${what} exited while starting; ${logTail(logFile)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new LabError(`${what} not ready after ${timeoutMs / 1000} s; ${logTail(logFile)}`);
}
