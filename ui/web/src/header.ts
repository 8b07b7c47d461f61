// The header's figures and the banner that says plainly what is unavailable.
import type { HeaderStatus } from "../../shared/wire";
import * as fmt from "./format";

export class Header {
  private readonly rate = document.getElementById("stat-rate")!;
  private readonly nodes = document.getElementById("stat-nodes")!;
  private readonly relay = document.getElementById("relay-state")!;
  private readonly banner = document.getElementById("banner")!;

  showLive(s: HeaderStatus): void {
    this.rate.textContent = fmt.rate(s.flowsPerSec);
    this.nodes.textContent = s.nodesTotal ? `${s.nodesConnected}/${s.nodesTotal}` : "–";
    const [label, cls] =
      s.relay === "connected" ? ["relay connected", "pill-ok"] : s.relay === "connecting" ? ["connecting", "pill-wait"] : ["relay unavailable", "pill-bad"];
    this.relay.textContent = label;
    this.relay.className = `pill ${cls}`;
    if (s.relay === "unavailable") {
      this.showBanner(`The relay is unavailable, so the map and flows are not updating. ${s.relayError ?? ""}`, "bad");
    } else if (s.unavailableNodes.length > 0) {
      const n = s.unavailableNodes.length;
      this.showBanner(
        `${n} of ${s.nodesTotal} node${s.nodesTotal === 1 ? "" : "s"} unavailable: ${s.unavailableNodes.join(", ")}. Flows from ${n === 1 ? "it" : "them"} are missing.`,
        "warn",
      );
    } else {
      this.banner.hidden = true;
    }
  }

  showPast(rate: number, label: string): void {
    this.rate.textContent = fmt.rate(rate);
    this.relay.textContent = label;
    this.relay.className = "pill pill-past";
  }

  showBanner(text: string, level: "bad" | "warn"): void {
    this.banner.textContent = text;
    this.banner.className = level === "warn" ? "banner banner-warn" : "banner";
    this.banner.hidden = false;
  }

  hideBanner(): void {
    this.banner.hidden = true;
  }
}
