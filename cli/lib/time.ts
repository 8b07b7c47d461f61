// Durations ("5m", "1h30m", "250ms") and points in time (a duration back from
// now, or RFC 3339) as flags take them.
import { UsageError } from "./errors";

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/;

/** Milliseconds in a Go-style duration such as "90s", "5m" or "1h30m". */
export function parseDuration(value: string, flag: string): number {
  let rest = value.trim();
  let total = 0;
  if (!rest) throw new UsageError(`${flag} is empty; give a duration such as 30s, 5m or 1h30m`);
  while (rest) {
    const m = DURATION.exec(rest);
    if (!m) throw new UsageError(`${flag} "${value}" is not a duration; use a number with a unit (ms, s, m, h, d), e.g. 5m or 1h30m`);
    total += Number(m[1]) * UNIT_MS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Wall-clock milliseconds for "5m" (that long ago) or an RFC 3339 time. */
export function parseTimeFlag(value: string, flag: string, nowMs = Date.now()): number {
  if (RFC3339.test(value.trim())) {
    const ms = Date.parse(value.trim().replace(" ", "T"));
    if (!Number.isNaN(ms)) return ms;
  }
  if (/^\d/.test(value.trim()) && !value.includes("-")) return nowMs - parseDuration(value, flag);
  throw new UsageError(`${flag} "${value}" is neither a duration (5m, 1h) nor an RFC 3339 time (2024-05-01T10:00:00Z)`);
}

const BYTE_UNITS: Record<string, number> = { "": 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** Bytes in a size such as "512MiB", "1GiB" or "2000000". */
export function parseByteSize(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? BYTE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`${flag} "${value}" is not a size; use e.g. 512MiB or 1GiB`);
  return Math.floor(Number(m[1]) * unit);
}
