// Bundles the page (ui/web) into ui/dist with esbuild. Used by `make build`
// (mk/ui.mk) and by the tests and benchmarks, so all of them serve the same page.
import * as fs from "node:fs";
import * as path from "node:path";
import { build } from "esbuild";

export const UI_DIST = path.join(__dirname, "dist");
const WEB = path.join(__dirname, "web");

export async function buildWebBundle(): Promise<void> {
  await build({
    entryPoints: { app: path.join(WEB, "src/main.ts"), styles: path.join(WEB, "styles.css") },
    outdir: UI_DIST,
    bundle: true,
    minify: true,
    sourcemap: "linked",
    format: "iife",
    target: ["chrome110", "firefox110", "safari16"],
    logLevel: "warning",
  });
  // ELK runs in a Web Worker so a large layout never blocks the page.
  fs.copyFileSync(require.resolve("elkjs/lib/elk-worker.min.js"), path.join(UI_DIST, "elk-worker.js"));
}

if (require.main === module) {
  buildWebBundle().catch((err: Error) => {
    process.stderr.write(`ui bundle: ${err.message}\n`);
    process.exitCode = 1;
  });
}
