import type { PeerDiscovery, PeerTarget } from "./types";

/** A fixed list from --peers. */
export class StaticDiscovery implements PeerDiscovery {
  readonly description: string;
  constructor(private readonly addresses: string[]) {
    this.description = `static list (${addresses.join(", ")})`;
  }
  start(onChange: (peers: PeerTarget[]) => void): void {
    onChange(this.addresses.map((address) => ({ address })));
  }
  stop(): void {}
}
