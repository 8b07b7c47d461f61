/** Shared pieces of the agent benchmarks: the C load tools, async process runs, bpf_stats toggling. */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ProgramStats } from "../../agent/kernel/capture";

export const RESULTS_DIR = path.resolve(__dirname, "../results/agent");
const TOOLS_SRC = path.join(__dirname, "tools");
const VMLINUX_DIR = path.resolve(__dirname, "../../bpf/.output");

/** Compiles bench/agent/tools/<name>.c (if changed) and returns the binary's path. */
export function buildTool(name: string): string {
  const src = path.join(TOOLS_SRC, `${name}.c`);
  const bin = path.join(RESULTS_DIR, "bin", name);
  if (!fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs) {
    fs.mkdirSync(path.dirname(bin), { recursive: true });
    execFileSync("cc", ["-O2", "-Wall", "-o", bin, src], { stdio: "inherit" });
  }
  return bin;
}

/** The empty cgroup_skb objects that prog-cost.ts measures the hook's own cost with, by name. */
export const EMPTY_HOOK_OBJECTS: Record<string, string[]> = {
  "empty-hooks": [],
  "empty-ingress": ["-DNO_EGRESS"],
  "empty-egress": ["-DNO_INGRESS"],
};

/** Compiles bench/agent/tools/empty-hooks.bpf.c as the named variant (if changed) and returns the object's path. */
export function buildEmptyHooks(name: string): string {
  const defines = EMPTY_HOOK_OBJECTS[name];
  if (!defines) throw new Error(`${name}: not an empty-hook object (expected ${Object.keys(EMPTY_HOOK_OBJECTS).join(", ")})`);
  const src = path.join(TOOLS_SRC, "empty-hooks.bpf.c");
  const obj = path.join(RESULTS_DIR, "bin", `${name}.bpf.o`);
  if (!fs.existsSync(obj) || fs.statSync(obj).mtimeMs < fs.statSync(src).mtimeMs) {
    fs.mkdirSync(path.dirname(obj), { recursive: true });
    execFileSync("clang", ["-O2", "-g", "-Wall", "-target", "bpf", ...defines, "-I", VMLINUX_DIR, "-c", src, "-o", obj], { stdio: "inherit" });
  }
  return obj;
}

/** Runs a command without blocking the event loop (so a capture keeps draining); resolves with stdout. */
export function runAsync(cmd: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd.join(" ")} failed (${code ?? signal})`));
    });
  });
}

const BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled";

/** Runs fn with kernel.bpf_stats_enabled=1, restoring the previous value afterwards. */
export async function withBpfStats<T>(fn: () => Promise<T>): Promise<T> {
  const previous = fs.readFileSync(BPF_STATS, "utf8").trim();
  fs.writeFileSync(BPF_STATS, "1");
  try {
    return await fn();
  } finally {
    fs.writeFileSync(BPF_STATS, previous);
  }
}

export function printProgramStats(title: string, stats: ProgramStats[]): void {
  console.log(`\n${title}`);
  for (const s of stats.filter((p) => p.runCount > 0)) {
    console.log(`  ${s.name.padEnd(20)} ${s.nsPerRun.toFixed(0).padStart(6)} ns/run  (${s.runCount} runs)`);
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A numeric setting from the environment, or its default; a bad value stops the run saying which and why. */
export function envNumber(name: string, fallback: number, valid: (n: number) => boolean, expected: string): number {
  const text = process.env[name];
  const n = text === undefined || text === "" ? fallback : Number(text);
  if (!Number.isFinite(n) || !valid(n)) throw new Error(`${name}=${text}: expected ${expected}`);
  return n;
}

/** A CPU list for taskset (e.g. "1" or "0,2-3") from the environment, or its default. */
export function envCpuList(name: string, fallback: string): string {
  const text = process.env[name] || fallback;
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) throw new Error(`${name}=${text}: expected a CPU list such as 1 or 0,2-3`);
  return text;
}

/** The 1, 5 and 15 minute load averages, as /proc/loadavg prints them. */
export function loadAverage(): string {
  return fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}
