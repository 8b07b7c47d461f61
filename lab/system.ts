// Thin wrappers over the tools the lab drives (ip, nft), with errors that say
// which command failed and why.
import { execFileSync, spawnSync } from "node:child_process";
import { LabError } from "./errors";

export function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new LabError(`\`${cmd} ${args.join(" ")}\` failed: ${(e.stderr || e.message).trim()}`);
  }
}

/** Runs a command whose failure is expected when there is nothing to remove. */
export function tryRun(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
}

export function ip(...args: string[]): string {
  return run("ip", args);
}

export function nftIn(netns: string, ruleset: string): void {
  run("ip", ["netns", "exec", netns, "nft", "-f", "-"], ruleset);
}
