/**
 * The real node daemon (`bin/flowlens agent`) as a benchmark runs it: its own process pinned to given CPUs,
 * loopback-only servers on free ports, observing one cgroup subtree. Started means the programs are attached
 * and the daemon consumes the ring buffer; stop() sends SIGTERM (which detaches everything) and waits.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ProgramStats } from "../../agent/kernel/capture";

const FLOWLENS = path.resolve(__dirname, "../../bin/flowlens");
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export interface AgentRunSummary {
  /** Kernel records the daemon received (flowlens_kernel_events_total). */
  kernelEvents: number;
  /** Records lost in the kernel ring buffer (flowlens_ringbuf_lost_events_total). */
  ringbufLost: number;
  /** User plus system CPU time of the daemon's process over its life. */
  cpuSeconds: number;
}

export class AgentProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly metricsPort: number,
  ) {}

  static start({ cgroupRoot, cpus, extraArgs = [] }: { cgroupRoot: string; cpus: string; extraArgs?: string[] }): Promise<AgentProcess> {
    const child = spawn(
      "taskset",
      ["-c", cpus, FLOWLENS, "agent", "--node-name", "datapath-bench", "--cgroup-root", cgroupRoot, "--listen-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0", ...extraArgs],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    return new Promise((resolve, reject) => {
      let log = "";
      const fail = (why: string) => {
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(new Error(`flowlens agent for ${cgroupRoot} on CPUs ${cpus} ${why}; its log:\n${log}`));
      };
      const timer = setTimeout(() => fail(`did not attach within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      child.on("exit", (code, signal) => fail(`exited (${code ?? signal}) before attaching`));
      child.stderr!.on("data", (d: Buffer) => {
        log += d.toString();
        const ready = /metrics on port (\d+), observing/.exec(log);
        if (!ready) return;
        clearTimeout(timer);
        child.removeAllListeners("exit");
        child.stderr!.removeAllListeners("data");
        child.stderr!.resume();
        resolve(new AgentProcess(child, Number(ready[1])));
      });
    });
  }

  /** Reads the daemon's counters and CPU time, then stops it (SIGTERM, SIGKILL after a timeout). */
  async stop(): Promise<AgentRunSummary> {
    const summary = await this.summary();
    await this.kill();
    return summary;
  }

  /** Stops the daemon without reading anything; for cleanup after a failure. */
  kill(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }

  /**
   * Run counts and times of the BPF programs this daemon holds open (from /proc/<pid>/fdinfo, names from
   * bpftool); times are counted only while kernel.bpf_stats_enabled=1.
   */
  programStats(): ProgramStats[] {
    const names = new Map<number, string>(
      (JSON.parse(execFileSync("bpftool", ["prog", "show", "-j"], { encoding: "utf8" })) as Array<{ id: number; name?: string }>).map((p) => [p.id, p.name ?? `prog ${p.id}`]),
    );
    const fdDir = `/proc/${this.child.pid}/fdinfo`;
    const stats: ProgramStats[] = [];
    for (const fd of fs.readdirSync(fdDir)) {
      let info: string;
      try {
        info = fs.readFileSync(path.join(fdDir, fd), "utf8");
      } catch {
        continue; // closed meanwhile
      }
      const field = (name: string) => new RegExp(`^${name}:\\s+(\\d+)$`, "m").exec(info);
      const id = field("prog_id");
      // Links name their program too; count each program once, from its own fd.
      if (!id || !/^prog_type:/m.test(info) || stats.some((s) => s.id === Number(id[1]))) continue;
      const runCount = Number(field("run_cnt")?.[1] ?? 0);
      const runTimeNs = Number(field("run_time_ns")?.[1] ?? 0);
      stats.push({ name: names.get(Number(id[1])) ?? `prog ${id[1]}`, id: Number(id[1]), runCount, runTimeNs, nsPerRun: runCount > 0 ? runTimeNs / runCount : 0 });
    }
    return stats.sort((a, b) => a.id - b.id);
  }

  private async summary(): Promise<AgentRunSummary> {
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    const text = await res.text();
    const counter = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
    // /proc/<pid>/stat fields 14 and 15 (utime, stime) follow the parenthesised command name.
    const fields = fs.readFileSync(`/proc/${this.child.pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
    return {
      kernelEvents: counter("flowlens_kernel_events_total"),
      ringbufLost: counter("flowlens_ringbuf_lost_events_total"),
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" })),
    };
  }
}
