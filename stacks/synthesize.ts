// Synthesizes an App so that `outdir` holds either the complete output of a successful run or nothing:
// the previous output is removed first, the new one is written beside it and renamed into place only
// when synthesis and every policy check passed.
import { renameSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { AnnotationMetadataEntryType, App } from "cdktf";

export class PolicyError extends Error {
  constructor(readonly violations: string[]) {
    super(`${violations.length} policy violation(s); fix them and synthesize again:\n  ${violations.join("\n  ")}`);
    this.name = "PolicyError";
  }
}

/** Error annotations on any construct of the app, as "[path] message". */
export function policyViolations(app: App): string[] {
  return app.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === AnnotationMetadataEntryType.ERROR)
      .map((m) => `[${c.node.path}] ${String(m.data)}`),
  );
}

/**
 * Builds the app with `build(dir)` (which must pass `dir` as the App's outdir), synthesizes it and moves
 * the result to `outdir`. Throws (leaving no `outdir`) on invalid templates or policy violations, also
 * under the cdktf CLI, which asks apps to keep going past error annotations.
 */
export function synthesizeAtomically(outdir: string, build: (partialOutdir: string) => App): App {
  const final = resolve(outdir);
  const partial = `${final}.partial-${process.pid}`;
  rmSync(final, { recursive: true, force: true });
  rmSync(partial, { recursive: true, force: true });
  try {
    const app = build(partial);
    app.synth();
    const violations = policyViolations(app);
    if (violations.length > 0) throw new PolicyError(violations);
    renameSync(partial, final);
    return app;
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
}
