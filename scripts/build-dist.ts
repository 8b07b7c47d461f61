// Bundles the flowlens command into dist/flowlens.js so production runs use plain node: no TypeScript
// transform per module and no tsx loader resident in memory. Packages with native parts or their own
// binaries stay external and load from node_modules at run time.
// Every module keeps its source location: `__dirname`/`__filename` are rewritten to the directory the
// file has in the repository, so paths such as proto/, bpf/.output/ and ui/dist resolve as from source.
import * as fs from "node:fs";
import * as path from "node:path";
import { build, type Plugin } from "esbuild";

const REPO = path.resolve(__dirname, "..");
const DIST_DIR = path.join(REPO, "dist");
const EXTERNAL = ["better-sqlite3", "esbuild", "*.node"];

const LOADERS = { ".ts": "ts", ".js": "js", ".cjs": "js", ".mjs": "js" } as const;

/** Rewrites `__dirname` and `__filename` to the module's source location relative to the bundle's parent. */
const sourceLocationPlugin: Plugin = {
  name: "source-location",
  setup(b) {
    b.onLoad({ filter: /\.(ts|js|cjs|mjs)$/ }, (args) => {
      const source = fs.readFileSync(args.path, "utf8");
      if (!/\b__(dirname|filename)\b/.test(source)) return undefined;
      const rel = (p: string) => JSON.stringify(path.relative(REPO, p));
      const contents = source
        .replace(/\b__dirname\b/g, `__flowlensSourcePath(${rel(path.dirname(args.path))})`)
        .replace(/\b__filename\b/g, `__flowlensSourcePath(${rel(args.path)})`);
      return { contents, loader: LOADERS[path.extname(args.path) as keyof typeof LOADERS], resolveDir: path.dirname(args.path) };
    });
  },
};

async function main(): Promise<void> {
  const result = await build({
    entryPoints: [path.join(REPO, "cli/flowlens.ts")],
    outfile: path.join(DIST_DIR, "flowlens.js"),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external: EXTERNAL,
    sourcemap: "linked",
    sourcesContent: false,
    logLevel: "warning",
    banner: { js: 'const __flowlensSourcePath = (p) => require("node:path").join(__dirname, "..", p);' },
    plugins: [sourceLocationPlugin],
    metafile: true,
  });
  // bin/flowlens runs the bundle only while none of these repository files is newer than it.
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.includes("node_modules/"));
  fs.writeFileSync(path.join(DIST_DIR, "flowlens.inputs"), `${inputs.sort().join("\n")}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`build-dist: bundling cli/flowlens.ts failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
