// Reads every `<team>-<env>.yaml` template in a directory, validates it, and reports every problem in
// every file at once so one synth run shows all that needs fixing.
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseDocument } from "yaml";
import { Environment, EnvironmentSchema, environmentName } from "./schema";

export interface EnvironmentProblem {
  file: string;
  /** Dotted field path inside the template, e.g. `network.podsCidr`; empty for the whole file. */
  path: string;
  message: string;
}

export class EnvironmentError extends Error {
  constructor(readonly problems: EnvironmentProblem[]) {
    super(
      `${problems.length} problem(s) in environment templates; fix them and run again:\n` +
        problems.map((p) => `  ${p.file}: ${p.path || "(file)"}: ${p.message}`).join("\n"),
    );
    this.name = "EnvironmentError";
  }
}

export interface LoadedEnvironment {
  /** Path of the template the environment came from. */
  file: string;
  config: Environment;
}

const TEMPLATE = /\.ya?ml$/;

function formatPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** Parses and validates one template's text; returns the environment or the problems found. */
export function parseEnvironment(file: string, text: string): Environment | EnvironmentProblem[] {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return doc.errors.map((e) => ({ file, path: "", message: `YAML syntax: ${e.message.split("\n")[0]}` }));
  }
  const result = EnvironmentSchema.safeParse(doc.toJS() ?? {});
  if (!result.success) {
    return result.error.issues.map((issue) => ({ file, path: formatPath(issue.path), message: issue.message }));
  }
  const expected = `${environmentName(result.data)}.yaml`;
  const actual = basename(file).replace(/\.yml$/, ".yaml");
  if (actual !== expected) {
    return [{ file, path: "", message: `file name must be ${expected} to match team and env; rename the file` }];
  }
  return result.data;
}

/** Loads every template in `dir`, sorted by file name; throws one EnvironmentError listing every problem. */
export function loadEnvironmentFiles(dir: string): LoadedEnvironment[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => TEMPLATE.test(n)).sort();
  } catch (err) {
    throw new EnvironmentError([{ file: dir, path: "", message: `cannot read the directory: ${(err as Error).message}` }]);
  }
  if (names.length === 0) {
    throw new EnvironmentError([
      { file: dir, path: "", message: "no <team>-<env>.yaml templates; create one with `flowlens env new`" },
    ]);
  }
  const problems: EnvironmentProblem[] = [];
  const loaded: LoadedEnvironment[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const file = join(dir, name);
    // File names carry <team>-<env>, so two files with one stem would define one environment twice.
    const stem = name.replace(TEMPLATE, "");
    const other = seen.get(stem);
    if (other) {
      problems.push({ file, path: "", message: `${stem} is already defined in ${other}; keep one of the two` });
      continue;
    }
    seen.set(stem, file);
    const parsed = parseEnvironment(file, readFileSync(file, "utf8"));
    if (Array.isArray(parsed)) problems.push(...parsed);
    else loaded.push({ file, config: parsed });
  }
  if (problems.length > 0) throw new EnvironmentError(problems);
  return loaded;
}

/** Loads every template in `dir`; throws one EnvironmentError listing every problem (file, field path, message). */
export function loadEnvironments(dir: string): Environment[] {
  return loadEnvironmentFiles(dir).map((l) => l.config);
}
