/**
 * Names of the kernel's `enum skb_drop_reason`, taken from the running kernel's BTF at build time
 * (bpf/scripts/drop-reasons.sh), since the numbering changes between kernel versions.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export const DROP_REASONS_PATH = path.resolve(__dirname, "../../bpf/.output/skb_drop_reasons.json");

let table: Map<number, string> | undefined;

function load(): Map<number, string> {
  let raw: string;
  try {
    raw = fs.readFileSync(DROP_REASONS_PATH, "utf8");
  } catch (err) {
    throw new Error(`the drop reason table ${DROP_REASONS_PATH} is missing (${(err as Error).message}); build it with \`make bpf\``);
  }
  const parsed = JSON.parse(raw) as Record<string, string>;
  return new Map(Object.entries(parsed).map(([n, name]) => [Number(n), name]));
}

/** The kernel's name for a drop reason without the SKB_DROP_REASON_ prefix, e.g. "NETFILTER_DROP". */
export function dropReasonName(reason: number): string {
  table ??= load();
  return table.get(reason) ?? `UNKNOWN_${reason}`;
}
