// Starts `flowlens <command>` as a child process and waits for the line that
// says it is ready; stops it with SIGTERM (SIGKILL after 10 s).
import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";

export const REPO = path.resolve(__dirname, "../..");

export interface FlowlensProcess {
  child: ChildProcess;
  match: RegExpExecArray;
  output(): string;
}

export function startFlowlens(args: string[], ready: RegExp, timeoutMs = 30_000): Promise<FlowlensProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "cli/flowlens.ts"), ...args], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`flowlens ${args[0]} not ready within ${timeoutMs} ms: ${out}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d;
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m, output: () => out });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`flowlens ${args[0]} exited ${code} before it was ready: ${out}`));
    });
  });
}

/** Runs `flowlens <args>` to completion. */
export function runFlowlens(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "cli/flowlens.ts"), ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output: out });
    });
  });
}

export function stopFlowlens(p: FlowlensProcess | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
    p.child.on("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    p.child.kill("SIGTERM");
  });
}

/** Edges in the first map the UI server sends a new page (read from its /api/stream). */
export function firstMapEdges(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}api/stream`, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
        const m = /event: batch\ndata: (.*)\n\n/.exec(text);
        if (!m) return;
        req.destroy();
        resolve(JSON.parse(m[1]).map?.edges.length ?? 0);
      });
    });
    req.on("error", reject);
  });
}
