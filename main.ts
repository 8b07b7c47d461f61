// The CDKTF app: a `<team>-<env>-cluster` and a `<team>-<env>-platform` stack per template in environments/.
import "./stacks/runtime";
import { join, relative } from "node:path";
import { App } from "cdktf";
import { loadEnvironmentFiles } from "./environments/load";
import { environmentName } from "./environments/schema";
import { ClusterStack } from "./stacks/cluster-stack";
import { PlatformStack, platformStackId } from "./stacks/platform-stack";
import { synthesizeAtomically } from "./stacks/synthesize";

export interface BuildAppOptions {
  /** @default - $FLOWLENS_ENVIRONMENTS_DIR, else the environments/ directory next to this file */
  readonly environmentsDir?: string;
  /** @default - $CDKTF_OUTDIR, else cdktf.out */
  readonly outdir?: string;
}

export const DEFAULT_ENVIRONMENTS_DIR = join(__dirname, "environments");

/** Builds the App with every environment's stacks; throws EnvironmentError before creating any output. */
export function buildApp(options: BuildAppOptions = {}): App {
  const dir = options.environmentsDir ?? process.env.FLOWLENS_ENVIRONMENTS_DIR ?? DEFAULT_ENVIRONMENTS_DIR;
  const environments = loadEnvironmentFiles(dir);
  const app = new App({ outdir: options.outdir, stackTraces: false });
  for (const { file, config } of environments) {
    const name = environmentName(config);
    const cluster = new ClusterStack(app, `${name}-cluster`, { environment: config, source: relative(process.cwd(), file) });
    new PlatformStack(app, platformStackId(config), {
      environment: config,
      cluster: { endpoint: cluster.gke.cluster.endpoint, caCertificate: cluster.gke.cluster.masterAuth.clusterCaCertificate },
    });
  }
  return app;
}

function main(): void {
  const outdir = process.env.CDKTF_OUTDIR ?? "cdktf.out";
  try {
    synthesizeAtomically(outdir, (dir) => buildApp({ outdir: dir }));
  } catch (err) {
    process.stderr.write(`synth failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) main();
