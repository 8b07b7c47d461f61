// Wall time and peak memory of synthesizing every example environment, three ways, plus the type-check:
//   cdktf synth          what users run (the CLI starts cdktf.json's app, bin/cdktf-app, itself)
//   bin/cdktf-app        the app as cdktf.json starts it: the bundle dist/app.js (`make build`) with plain node
//   npx tsx main.ts      the app from source through npx, as before a build
//   tsx main.ts          the app from source without npx (tsx's launcher plus the node process it starts)
//   node --import tsx    the app from source in one process
//   tsc --noEmit         the type-check gate of `make test` (whole repository), and of the CDKTF app alone
//                        (bench/synth/tsconfig.app.json) to tell its share apart
// CPU time comes from GNU time (scripts/system-packages.txt: time); it moves less than wall time when other
// work shares the machine. Peak RSS is sampled from /proc every 20 ms over the whole process tree (the sum of every process alive at
// that instant), and the largest single process is reported too. Runs alternate between commands so load
// from other work on the machine spreads over all of them.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const REPO = join(__dirname, "..", "..");
const BIN = join(REPO, "node_modules", ".bin");
const PAGE_KB = 4;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

interface Sample {
  wallS: number;
  /** user + system CPU seconds of the command and every process it waited for (GNU time). */
  cpuS: number;
  treeMb: number;
  largestMb: number;
  code: number | null;
}

/** RSS in kB of every process in /proc, keyed by pid, with its parent. */
function processTable(): Map<number, { ppid: number; rssKb: number }> {
  const table = new Map<number, { ppid: number; rssKb: number }>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // After the command: state(0) ppid(1) ... rss is field 24 of stat, index 21 here.
      table.set(Number(name), { ppid: Number(fields[1]), rssKb: Number(fields[21]) * PAGE_KB });
    } catch {
      // The process ended between readdir and read.
    }
  }
  return table;
}

function treeRss(root: number): { totalKb: number; largestKb: number } {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  let totalKb = 0;
  let largestKb = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    const rss = table.get(pid)?.rssKb ?? 0;
    totalKb += rss;
    largestKb = Math.max(largestKb, rss);
    stack.push(...(children.get(pid) ?? []));
  }
  return { totalKb, largestKb };
}

function measure(cmd: string, args: string[], env: Record<string, string>): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const timeFile = join(tmpdir(), `fl-bench-time-${process.pid}`);
    const child = spawn("/usr/bin/time", ["-o", timeFile, "-f", "%U %S", cmd, ...args], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => (output += String(d)));
    child.stderr.on("data", (d) => (output += String(d)));
    let treeKb = 0;
    let largestKb = 0;
    const sample = () => {
      if (child.pid === undefined) return;
      const r = treeRss(child.pid);
      treeKb = Math.max(treeKb, r.totalKb);
      largestKb = Math.max(largestKb, r.largestKb);
    };
    const timer = setInterval(sample, 20);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearInterval(timer);
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      const [user, system] = readFileSync(timeFile, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
      rmSync(timeFile, { force: true });
      if (code !== 0) process.stderr.write(`${cmd} ${args.join(" ")} exited ${code}:\n${output.slice(-2000)}\n`);
      resolve({ wallS, cpuS: user + system, treeMb: treeKb / 1024, largestMb: largestKb / 1024, code });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), "fl-bench-synth-"));
  const quiet = { CHECKPOINT_DISABLE: "1" };
  const cases: { name: string; target: string; cmd: string; args: string[]; env: Record<string, string> }[] = [
    { name: "cdktf synth (as users run it)", target: "", cmd: join(BIN, "cdktf"), args: ["synth", "--output", join(out, "cli")], env: quiet },
    { name: "bin/cdktf-app (cdktf.json app, bundle)", target: "<= 2 s, <= 250 MB", cmd: join(REPO, "bin", "cdktf-app"), args: [], env: { CDKTF_OUTDIR: join(out, "bundle") } },
    { name: "npx tsx main.ts (source)", target: "", cmd: "npx", args: ["tsx", "main.ts"], env: { ...quiet, CDKTF_OUTDIR: join(out, "npx") } },
    { name: "tsx main.ts (source)", target: "", cmd: join(BIN, "tsx"), args: ["main.ts"], env: { CDKTF_OUTDIR: join(out, "bare") } },
    { name: "node --import tsx main.ts (source)", target: "<= 2 s, <= 250 MB", cmd: process.execPath, args: ["--import", "tsx", "main.ts"], env: { CDKTF_OUTDIR: join(out, "node") } },
    { name: "tsc --noEmit (whole repo)", target: "<= 6 s", cmd: join(BIN, "tsc"), args: ["--noEmit", "-p", "tsconfig.json"], env: {} },
    { name: "tsc --noEmit (CDKTF app only)", target: "", cmd: join(BIN, "tsc"), args: ["--noEmit", "-p", "bench/synth/tsconfig.app.json"], env: {} },
  ];
  const results = new Map<string, Sample[]>(cases.map((c) => [c.name, []]));
  // bin/cdktf-app falls back to tsx when the bundle is older than a source: build it so the row means what it says.
  const built = await measure(join(BIN, "tsx"), ["scripts/build-dist.ts", "app"], {});
  if (built.code !== 0) throw new Error("bench/synth: building dist/app.js failed (see above)");
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const c of cases) results.get(c.name)!.push(await measure(c.cmd, c.args, c.env));
    }
    const stacks = readdirSync(join(out, "bare", "stacks"));
    const environments = readdirSync(join(REPO, "environments")).filter((f) => f.endsWith(".yaml"));
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    console.log(`bench/synth: ${environments.length} example environments, ${stacks.length} stacks, ${RUNS} runs each`);
    console.log(`machine: ${require("node:os").cpus().length} cores, load average ${load} at the end`);
    console.log("median wall s (min-max) | median CPU s (user+sys) | median peak RSS of the process tree MB (max) | largest process MB | target");
    for (const c of cases) {
      const s = results.get(c.name)!;
      const walls = s.map((x) => x.wallS);
      const trees = s.map((x) => x.treeMb);
      const failed = s.some((x) => x.code !== 0) ? "  (a run failed)" : "";
      console.log(
        `${c.name.padEnd(34)} ${median(walls).toFixed(2)} s (${Math.min(...walls).toFixed(2)}-${Math.max(...walls).toFixed(2)})` +
          `  cpu ${median(s.map((x) => x.cpuS)).toFixed(2)} s` +
          `  ${median(trees).toFixed(0)} MB (${Math.max(...trees).toFixed(0)})` +
          `  ${median(s.map((x) => x.largestMb)).toFixed(0)} MB  ${c.target}${failed}`,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
