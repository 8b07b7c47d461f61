// A small grouped bar chart as standalone SVG, so reports render on GitHub
// and in any browser without a plotting library.

export interface BarChart {
  title: string;
  unit: string;
  groups: string[];
  series: { name: string; values: number[] }[];
}

const COLORS = ["#4c78a8", "#9ecae9", "#f58518", "#ffbf79", "#54a24b", "#88d27a", "#e45756", "#72b7b2"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((c) => c >= v)!;
}

function label(v: number): string {
  return Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)) : "n/a";
}

export function barChartSvg(chart: BarChart): string {
  const width = 640, height = 320, left = 60, right = 20, top = 40, bottom = 60;
  const plotW = width - left - right, plotH = height - top - bottom;
  const max = niceMax(Math.max(...chart.series.flatMap((s) => s.values.filter(Number.isFinite))));
  const groupW = plotW / chart.groups.length;
  const barW = (groupW * 0.8) / chart.series.length;
  const y = (v: number) => top + plotH - (Math.max(0, v) / max) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${esc(chart.title)}</text>`,
    `<text transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(chart.unit)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${label(v)}</text>`);
  }
  chart.groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + groupW * 0.1;
    chart.series.forEach((s, si) => {
      const v = s.values[gi];
      const x = x0 + si * barW;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(s.name)} ${esc(g)}: ${label(v)} ${esc(chart.unit)}</title></rect>`,
        `<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="9">${label(v)}</text>`);
    });
    parts.push(`<text x="${left + gi * groupW + groupW / 2}" y="${top + plotH + 16}" text-anchor="middle">${esc(g)}</text>`);
  });
  // Legend: three entries a row, two rows below the group labels.
  chart.series.forEach((s, si) => {
    const x = left + (si % 3) * 190, y = height - 34 + Math.floor(si / 3) * 16;
    parts.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[si % COLORS.length]}"/>`,
      `<text x="${x + 16}" y="${y + 10}">${esc(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
