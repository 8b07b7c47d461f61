// IPv4 CIDR parsing and overlap checks for environment templates.

export interface Ipv4Range {
  /** First address as an unsigned 32-bit number. */
  start: number;
  /** Last address as an unsigned 32-bit number. */
  end: number;
  prefix: number;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Parses "a.b.c.d/n"; returns an explanation instead of a range when the text is not a canonical IPv4 CIDR. */
export function parseCidr(text: string): Ipv4Range | string {
  const m = CIDR.exec(text);
  if (!m) return `"${text}" is not an IPv4 CIDR like 10.0.0.0/20`;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255)) return `"${text}" has an octet above 255`;
  if (prefix > 32) return `"${text}" has a prefix length above 32`;
  const address = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const size = 2 ** (32 - prefix);
  const start = address - (address % size);
  if (start !== address) return `"${text}" has host bits set; the network address is ${formatIpv4(start)}/${prefix}`;
  return { start, end: start + size - 1, prefix };
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

export function rangesOverlap(a: Ipv4Range, b: Ipv4Range): boolean {
  return a.start <= b.end && b.start <= a.end;
}
