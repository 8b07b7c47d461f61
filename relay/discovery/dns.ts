// Agents behind a headless Service: every A/AAAA record is one agent. The name
// is resolved again every `intervalMs` so agents that come and go are followed.
// getaddrinfo (dns.lookup) is used, so resolv.conf search domains and
// /etc/hosts apply as they do for every other program in the pod.
import * as dns from "node:dns";
import { joinHostPort, type PeerDiscovery, type PeerTarget } from "./types";

export class DnsDiscovery implements PeerDiscovery {
  readonly description: string;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly host: string, private readonly port: number, private readonly intervalMs: number, private readonly onError: (msg: string) => void) {
    this.description = `DNS ${host}:${port} every ${intervalMs / 1000}s`;
  }

  start(onChange: (peers: PeerTarget[]) => void): void {
    const resolve = async () => {
      try {
        const records = await dns.promises.lookup(this.host, { all: true });
        if (!this.stopped) onChange([...new Set(records.map((r) => r.address))].sort().map((ip) => ({ address: joinHostPort(ip, this.port) })));
      } catch (err) {
        // Keep the last known peers: a failed lookup is not proof that agents are gone.
        this.onError(`resolving ${this.host} for --peer-dns failed (${(err as NodeJS.ErrnoException).code ?? err}); keeping the previous peers and retrying in ${this.intervalMs / 1000}s`);
      }
      if (!this.stopped) this.timer = setTimeout(resolve, this.intervalMs);
    };
    void resolve();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
