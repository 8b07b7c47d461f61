// Flag parsing shared by every command: node:util parseArgs plus the
// FLOWLENS_<FLAG> environment fallback documented in docs/DEVELOPING.md.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors";

export type FlagSpec = NonNullable<ParseArgsConfig["options"]>;
export type ParsedFlags = ReturnType<typeof parseFlags>;

/** FLOWLENS_NODE_NAME for "node-name". */
export function envName(flag: string): string {
  return `FLOWLENS_${flag.replace(/-/g, "_").toUpperCase()}`;
}

/**
 * Parses argv against `options`. A flag absent from argv takes its value from
 * the environment; repeatable flags read a comma-separated list there.
 */
export function parseFlags(command: string, argv: string[], options: FlagSpec, env: NodeJS.ProcessEnv = process.env) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    const msg = err instanceof Error ? err.message.replace(/\. To specify.*$/s, "") : String(err);
    throw new UsageError(`${msg}; run \`flowlens ${command} --help\` for the flags`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | boolean[] | undefined>;
  for (const [name, spec] of Object.entries(options)) {
    if (values[name] !== undefined) continue;
    const fromEnv = env[envName(name)];
    if (fromEnv === undefined || fromEnv === "") continue;
    if (spec.type === "boolean") values[name] = /^(1|true|yes)$/i.test(fromEnv);
    else values[name] = spec.multiple ? fromEnv.split(",").map((s) => s.trim()).filter(Boolean) : fromEnv;
  }
  return { values, positionals: parsed.positionals, tokens: parsed.tokens ?? [] };
}

export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const v = flags.values[name];
  return typeof v === "string" ? v : undefined;
}

/** A repeatable flag, each occurrence possibly a comma-separated list. */
export function listFlag(flags: ParsedFlags, name: string): string[] {
  const v = flags.values[name];
  const raw = Array.isArray(v) ? v.map(String) : typeof v === "string" ? [v] : [];
  return raw.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
}

export function boolFlag(flags: ParsedFlags, name: string): boolean {
  return flags.values[name] === true;
}

/** ":4245" -> "0.0.0.0:4245"; "host:port" unchanged. */
export function listenAddress(value: string): string {
  return value.startsWith(":") ? `0.0.0.0${value}` : value;
}
