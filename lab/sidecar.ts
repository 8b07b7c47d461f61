// The HAProxy sidecar: like Istio's Envoy, it receives every redirected
// connection (outbound on 15001, inbound on 15006) and forwards it to the
// original destination, which HAProxy reads back with SO_ORIGINAL_DST.
import { SIDECAR_INBOUND_PORT, SIDECAR_OUTBOUND_PORT } from "./nftables";

export function haproxyConfig(podName: string): string {
  return `# Sidecar of ${podName}
global
  nbthread 1
  maxconn 8192
  log stderr format short local0 err

defaults
  mode tcp
  log global
  timeout connect 5s
  timeout client 1h
  timeout server 1h

frontend outbound
  bind 0.0.0.0:${SIDECAR_OUTBOUND_PORT}
  default_backend original_destination

frontend inbound
  bind 0.0.0.0:${SIDECAR_INBOUND_PORT}
  default_backend original_destination

backend original_destination
  # Address 0.0.0.0 without a port: connect to the connection's original destination.
  server original 0.0.0.0
`;
}
