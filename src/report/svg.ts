/**
 * Minimal SVG line charts for reports (no dependencies).
 *
 * @module
 */

/** One series of a chart. */
export interface Series {
  name: string;
  points: [number, number][];
  color?: string;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step = (hi - lo) / n;
  return Array.from({ length: n + 1 }, (_, i) => lo + i * step);
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

/**
 * A line chart panel as an SVG `<g>` element at (x, y) of size w × h.
 */
export function linePanel(
  x: number,
  y: number,
  w: number,
  h: number,
  title: string,
  xLabel: string,
  series: Series[],
): string {
  const pts = series.flatMap((s) => s.points).filter(([a, b]) =>
    Number.isFinite(a) && Number.isFinite(b)
  );
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!Number.isFinite(y0)) [y0, y1] = [0, 1];
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  if (x1 === x0) x1 = x0 + 1;
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const L = 60, R = 10, Tp = 28, B = 40;
  const px = (v: number) => x + L + ((v - x0) / (x1 - x0)) * (w - L - R);
  const py = (v: number) => y + h - B - ((v - y0) / (y1 - y0)) * (h - Tp - B);
  const out: string[] = [`<g font-family="sans-serif" font-size="11">`];
  out.push(
    `<text x="${x + w / 2}" y="${y + 16}" text-anchor="middle" font-size="13">${esc(title)}</text>`,
  );
  out.push(
    `<rect x="${x + L}" y="${y + Tp}" width="${w - L - R}" height="${
      h - Tp - B
    }" fill="none" stroke="#999"/>`,
  );
  for (const t of ticks(y0, y1)) {
    out.push(`<text x="${x + L - 4}" y="${py(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
    out.push(`<line x1="${x + L}" x2="${x + w - R}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/>`);
  }
  for (const t of ticks(x0, x1)) {
    out.push(`<text x="${px(t)}" y="${y + h - B + 14}" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(
    `<text x="${x + L + (w - L - R) / 2}" y="${y + h - 6}" text-anchor="middle">${
      esc(xLabel)
    }</text>`,
  );
  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length];
    const ok = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
    if (ok.length === 0) return;
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${
        ok.map(([a, b]) => `${px(a).toFixed(1)},${py(b).toFixed(1)}`).join(" ")
      }"/>`,
    );
    for (const [a, b] of ok) {
      out.push(
        `<circle cx="${px(a).toFixed(1)}" cy="${py(b).toFixed(1)}" r="2.5" fill="${color}"/>`,
      );
    }
    out.push(
      `<text x="${x + L + 8}" y="${y + Tp + 14 + 13 * i}" fill="${color}">${esc(s.name)}</text>`,
    );
  });
  out.push("</g>");
  return out.join("\n");
}

/**
 * A document with panels side by side.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linePanel, svgDocument } from "./svg.ts"; // internal: src/report/ has no package subpath
 * const panel = linePanel(0, 0, 400, 300, "speedup", "step", [{ name: "est.", points: [[0, 1], [1, 1.1]] }]);
 * const svg = svgDocument(800, 300, [panel]);
 * assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="800" height="300"'));
 * assert.ok(svg.includes(panel) && svg.endsWith("</svg>\n"));
 * ```
 */
export function svgDocument(width: number, height: number, panels: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n<rect width="100%" height="100%" fill="white"/>\n${
    panels.join("\n")
  }\n</svg>\n`;
}
