/** Text forms of the 16-byte addresses in kernel records (IPv4 is stored IPv4-mapped). */

export function formatIpv4(buf: Buffer, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/** RFC 5952 form: lowercase hex, the longest run of two or more zero groups as "::". */
export function formatIpv6(buf: Buffer, offset: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(offset + i * 2));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** An address of the given family (4 or 6); "" when the kernel could not tell (family 0). */
export function formatAddress(buf: Buffer, offset: number, family: number): string {
  if (family === 4) return formatIpv4(buf, offset + 12);
  if (family === 6) return formatIpv6(buf, offset);
  return "";
}
