// Synth must not need a terraform binary: only plan and apply do.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const repo = join(__dirname, "..", "..");

test("the app synthesizes every example with no terraform on PATH", () => {
  const work = mkdtempSync(join(tmpdir(), "fl-noterraform-"));
  try {
    const bin = join(work, "bin");
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "node"));
    const outdir = join(work, "out");
    execFileSync(join(bin, "node"), ["--import", "tsx", "main.ts"], {
      cwd: repo,
      env: { PATH: `${bin}:/usr/bin:/bin`, CDKTF_OUTDIR: outdir, HOME: process.env.HOME ?? "/root" },
      stdio: "pipe",
    });
    expect(() => execFileSync("sh", ["-c", "command -v terraform"], { env: { PATH: `${bin}:/usr/bin:/bin` } })).toThrow();
    const platform = JSON.parse(readFileSync(join(outdir, "stacks", "acme-dev-platform", "cdk.tf.json"), "utf8"));
    expect(platform.import).toEqual([expect.objectContaining({ to: expect.stringMatching(/^kubernetes_manifest\./) })]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
