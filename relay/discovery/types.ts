/** One agent to dial: its address and, when discovery knows it, its node name. */
export interface PeerTarget {
  address: string;
  name?: string;
}

/** A source of agents; calls `onChange` with the full current list whenever it may have changed. */
export interface PeerDiscovery {
  readonly description: string;
  start(onChange: (peers: PeerTarget[]) => void): void;
  stop(): void;
}

/** "1.2.3.4", 4244 -> "1.2.3.4:4244"; IPv6 gets brackets. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Splits "host:port" (or "[v6]:port"), naming the flag in the error. */
export function splitHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new Error(`${flag} "${value}" is not host:port; e.g. agent-0.example:4244`);
  return { host: m[1], port };
}
