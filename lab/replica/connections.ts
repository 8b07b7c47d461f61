// Outbound connections that can be dropped and re-made on demand. The
// benchmark switches sidecar interception and the eBPF agent on and off under
// a running replica; it signals every process to re-open its connections so
// each configuration carries its traffic over connections made under it.
const resets: (() => void)[] = [];

/** Registers how to drop a connection (or channel) so that the next use opens a new one. */
export function onReset(reset: () => void): void {
  resets.push(reset);
}

export function resetConnections(): void {
  for (const reset of resets) reset();
}
