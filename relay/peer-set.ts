// The current set of upstream peers, kept in step with discovery: peers that
// appear are dialled and health-checked, peers that disappear are closed. No
// restart is needed for agents joining or leaving.
import { EventEmitter } from "node:events";
import type { PeerTarget } from "./discovery/types";
import { Peer, type PeerOptions } from "./peer";

export class PeerSet extends EventEmitter {
  private readonly peers = new Map<string, Peer>();

  constructor(private readonly options: PeerOptions, private readonly log: (msg: string) => void) {
    super();
  }

  list(): Peer[] {
    return [...this.peers.values()];
  }

  /** Applies a full list from discovery. */
  update(targets: PeerTarget[]): void {
    const wanted = new Map(targets.map((t) => [t.address, t]));
    for (const [address, peer] of this.peers) {
      if (wanted.has(address)) continue;
      this.peers.delete(address);
      this.log(`peer ${peer.name} (${address}) left discovery; disconnecting`);
      peer.close();
      this.emit("removed", peer);
    }
    for (const [address, target] of wanted) {
      if (this.peers.has(address)) continue;
      const peer = new Peer(address, target.name ?? address, this.options);
      this.peers.set(address, peer);
      peer.on("state", (state) => this.log(`peer ${peer.name} (${address}) is ${state}${peer.lastError ? `: ${peer.lastError}` : ""}`));
      peer.startHealthChecks();
      this.log(`peer ${peer.name} (${address}) discovered`);
      this.emit("added", peer);
    }
  }

  close(): void {
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
  }
}
