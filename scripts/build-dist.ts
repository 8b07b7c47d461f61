// Bundles an entry point into dist/<name>.js so production runs use plain node: no TypeScript transform per
// module, no module resolution over hundreds of files, and no tsx loader resident in memory.
//   flowlens  cli/flowlens.ts, run by bin/flowlens
//   app       main.ts, the CDKTF app, run by bin/cdktf-app (cdktf.json): synth in about a quarter of the time Packages with native parts or their own
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

const ENTRY_POINTS: Record<string, string> = { flowlens: "cli/flowlens.ts", app: "main.ts" };

async function bundle(name: string, entry: string): Promise<void> {
  const result = await build({
    entryPoints: [path.join(REPO, entry)],
    outfile: path.join(DIST_DIR, `${name}.js`),
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
  // bin/ launchers run the bundle only while none of these repository files is newer than it.
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.includes("node_modules/"));
  fs.writeFileSync(path.join(DIST_DIR, `${name}.inputs`), `${inputs.sort().join("\n")}\n`);
}

const name = process.argv[2] ?? "";
const entry = ENTRY_POINTS[name];
if (!entry) {
  process.stderr.write(`build-dist: unknown bundle "${name}"; expected one of: ${Object.keys(ENTRY_POINTS).join(", ")}\n`);
  process.exitCode = 2;
} else {
  bundle(name, entry).catch((err: unknown) => {
    process.stderr.write(`build-dist: bundling ${entry} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
