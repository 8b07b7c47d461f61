// Runs the real `flowlens agent` as a child process and talks to it.
import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { observerClientConstructor } from "../../../proto/load";
import type { GetFlowsRequest, GetFlowsResponse } from "../../../proto/types";
import { REPO } from "./_test-node";

export interface RunningAgent {
  child: ChildProcess;
  grpcPort: number;
  metricsPort: number;
  stderr: () => string;
}

/** Starts the agent and waits for it to report its ports. */
export function startAgent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningAgent> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "cli/flowlens.ts"), "agent", ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stdout!.resume();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`agent did not start within 30 s: ${err}`));
    }, 30_000);
    child.stderr!.on("data", (d) => {
      err += d;
      const m = /gRPC on port (\d+), metrics on port (\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, grpcPort: Number(m[1]), metricsPort: Number(m[2]), stderr: () => err });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited ${code} before starting: ${err}`));
    });
  });
}

/** Sends SIGTERM and resolves with the exit code (SIGKILL after 10 s). */
export function stopAgent(agent: RunningAgent): Promise<number | null> {
  if (agent.child.exitCode !== null) return Promise.resolve(agent.child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => agent.child.kill("SIGKILL"), 10_000);
    agent.child.on("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    agent.child.kill("SIGTERM");
  });
}

export function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: urlPath }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

export async function waitReady(agent: RunningAgent, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const res = await httpGet(agent.metricsPort, "/readyz");
    if (res.status === 200) return;
    last = res.body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`agent not ready after ${timeoutMs} ms: ${last}`);
}

export type ObserverClient = grpc.Client & Record<string, any>;

export function observerClient(port: number): ObserverClient {
  const Ctor = observerClientConstructor();
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as ObserverClient;
}

/** Collects a non-follow GetFlows stream. */
export function getFlows(client: ObserverClient, req: GetFlowsRequest): Promise<GetFlowsResponse[]> {
  return new Promise((resolve, reject) => {
    const out: GetFlowsResponse[] = [];
    const call = client.GetFlows(req);
    call.on("data", (r: GetFlowsResponse) => out.push(r));
    call.on("error", reject);
    call.on("end", () => resolve(out));
  });
}

export function unary<T>(client: ObserverClient, method: string): Promise<T> {
  return new Promise((resolve, reject) => client[method]({}, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));
}
