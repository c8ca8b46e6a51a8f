/**
 * The comparison's outputs: `compare.md` (the results table, the best method per speedup, pruning
 * times and the protocol) and `compare.svg` (held-out perplexity vs measured speedup per method;
 * pruning wall time per method and target speedup).
 *
 * @module
 */
import type { CompareDoc } from "./types.ts";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Sublayer label: `A<b>` for block b's attention, `M<b>` for its MLP. */
export function sublayerLabel(s: number): string {
  return `${s % 2 === 0 ? "A" : "M"}${s >> 1}`;
}

function f(x: number | undefined | null, d = 3): string {
  return x === undefined || x === null || !Number.isFinite(x) ? "–" : x.toFixed(d);
}

function methodsOf(doc: CompareDoc): string[] {
  return [...new Set(doc.cells.map((c) => c.method))];
}

function speedupsOf(doc: CompareDoc): number[] {
  return [...new Set(doc.cells.map((c) => c.targetSpeedup))].sort((a, b) => a - b);
}

/** compare.md. */
export function compareMarkdown(doc: CompareDoc): string {
  const p = doc.protocol as Record<string, unknown> & { settings: Record<string, unknown> };
  const lt = doc.latency;
  const tasks = [...new Set(doc.cells.flatMap((c) => Object.keys(c.zeroShot)))];
  const L: string[] = [];
  L.push("# Depth pruning comparison: SPRINT vs baselines", "");
  L.push(
    `Model \`${p.settings.model}\` · weights ${p.settings.dtype} · ${p.adapter} · Deno ${p.deno} · ${p.date}`,
    "",
  );
  L.push(
    `Latency table (${lt.source}${lt.measuredAt ? `, measured ${lt.measuredAt}` : ""}): attention ${
      f(lt.attention)
    } ms, MLP ${f(lt.mlp)} ms per sublayer, dense ${f(lt.dense, 1)} ms per workload \`${
      JSON.stringify(lt.workload ?? {})
    }\` — one table for every method; stopping rule: estimated speedup (model \`${p.settings.speedupModel}\`) ≥ target.`,
    "",
  );
  L.push(
    `Held-out perplexity: ${doc.dense.heldout.tokens} tokens (${doc.dense.heldout.windows} windows × ${doc.dense.heldout.seqLen}); dense ppl **${
      f(doc.dense.heldout.ppl)
    }**.`,
    "",
  );
  const head = [
    "method",
    "target",
    "removed (in order)",
    "#",
    "est. speedup",
    "measured speedup",
    "held-out ppl",
    "Δppl",
    ...tasks,
    ...(tasks.length ? ["mean acc"] : []),
    "calib. loss",
    "pruning time (s)",
    "prune process (s)",
  ];
  L.push(`| ${head.join(" | ")} |`);
  L.push(`|${head.map((_, i) => (i < 1 || i === 2 ? "---" : "---:")).join("|")}|`);
  const denseZs = tasks.map((t) => {
    const z = doc.dense.zeroShot[t];
    return z ? f(z.acc_norm ?? z.acc, 4) : "–";
  });
  const meanAcc = (zs: Record<string, { acc: number; acc_norm?: number }>) => {
    const xs = tasks.map((t) => zs[t]).filter(Boolean).map((z) => z.acc_norm ?? z.acc);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
  };
  L.push(
    `| dense | 1.0 | – | 0 | 1.000 | 1.000 | ${f(doc.dense.heldout.ppl)} | – | ${
      [...denseZs, ...(tasks.length ? [f(meanAcc(doc.dense.zeroShot), 4)] : [])].map((x) =>
        `${x} | `
      )
        .join("")
    }${f(doc.cells[0]?.prune.denseCalibrationLoss, 4)} | – | – |`,
  );
  const sorted = [...doc.cells].sort((a, b) =>
    a.targetSpeedup - b.targetSpeedup || methodsOf(doc).indexOf(a.method) -
      methodsOf(doc).indexOf(b.method)
  );
  for (const c of sorted) {
    const zs = tasks.map((t) => {
      const z = c.zeroShot[t];
      return z ? f(z.acc_norm ?? z.acc, 4) : "–";
    });
    const row = [
      c.method,
      String(c.targetSpeedup),
      c.prune.pruned.map(sublayerLabel).join(" ") || "–",
      String(c.prune.pruned.length),
      `${f(c.prune.estimatedSpeedup)}${c.prune.targetReached ? "" : " (target not reached)"}`,
      `${f(c.speed.speedup)} [${f(c.speed.p10)}, ${f(c.speed.p90)}]`,
      f(c.heldout.ppl),
      `${c.heldout.ppl >= doc.dense.heldout.ppl ? "+" : ""}${
        f(c.heldout.ppl - doc.dense.heldout.ppl)
      }`,
      ...zs,
      ...(tasks.length ? [f(meanAcc(c.zeroShot), 4)] : []),
      f(c.prune.finalCalibrationLoss, 4),
      f(c.prune.wallSeconds, 1),
      f(c.prune.processSeconds, 1),
    ];
    L.push(`| ${row.join(" | ")} |`);
  }
  L.push(
    "",
    "Removed sublayers: `A<b>` = block b's attention, `M<b>` = its MLP. Measured speedup: min(dense) ÷ min(pruned) over alternating runs of the latency workload [10th, 90th percentile of the paired run ratios]. " +
      "The calibration loss column is each method's own log (SPRINT: mean NLL of its first 8 calibration windows; baselines: all calibration windows), so compare it only within a method.",
    "",
  );
  // Best per speedup.
  L.push("## Best held-out perplexity per target speedup", "");
  L.push("| target | best | ppl | " + methodsOf(doc).join(" | ") + " |");
  L.push("|---:|---|---:|" + methodsOf(doc).map(() => "---:").join("|") + "|");
  for (const s of speedupsOf(doc)) {
    const cs = doc.cells.filter((c) => c.targetSpeedup === s);
    const best = cs.reduce((a, b) => (b.heldout.ppl < a.heldout.ppl ? b : a));
    L.push(
      `| ${s} | ${best.method} | ${f(best.heldout.ppl)} | ${
        methodsOf(doc).map((m) => {
          const c = cs.find((x) => x.method === m);
          return c ? `${f(c.heldout.ppl)} @ ${f(c.speed.speedup, 2)}×` : "–";
        }).join(" | ")
      } |`,
    );
  }
  L.push("", "## Pruning time (search wall seconds)", "");
  L.push("| method | " + speedupsOf(doc).join(" | ") + " | total |");
  L.push("|---|" + speedupsOf(doc).map(() => "---:").join("|") + "|---:|");
  for (const m of methodsOf(doc)) {
    const ts = speedupsOf(doc).map((s) =>
      doc.cells.find((c) => c.method === m && c.targetSpeedup === s)?.prune.wallSeconds
    );
    const tot = ts.reduce((a: number, b) => a + (b ?? 0), 0);
    L.push(`| ${m} | ${ts.map((t) => f(t, 1)).join(" | ")} | ${f(tot, 1)} |`);
  }
  const failed = Object.entries(doc.failed);
  if (failed.length) {
    L.push("", "## Failed cells", "");
    for (const [k, v] of failed) L.push(`- ${k}: ${v}`);
  }
  L.push("", "## Protocol", "");
  for (const [k, v] of Object.entries(p)) {
    if (k === "settings") continue;
    L.push(`- **${k}**: ${typeof v === "string" ? v : `\`${JSON.stringify(v)}\``}`);
  }
  L.push(`- **settings**: \`${JSON.stringify(p.settings)}\``, "");
  return L.join("\n");
}

interface Pt {
  x: number;
  y: number;
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => span / s <= n) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(v);
  return out;
}

function fmtTick(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** An x–y panel with lines and markers per series, axes fitted to the data. */
function xyPanel(
  x: number,
  y: number,
  w: number,
  h: number,
  title: string,
  xLabel: string,
  yLabel: string,
  series: { name: string; points: Pt[]; color: string; dashed?: boolean }[],
  opts: { bars?: boolean; xTicks?: number[] } = {},
): string {
  const pts = series.flatMap((s) => s.points).filter((p) => isFinite(p.x) && isFinite(p.y));
  let [x0, x1] = [Math.min(...pts.map((p) => p.x)), Math.max(...pts.map((p) => p.x))];
  let [y0, y1] = [Math.min(...pts.map((p) => p.y)), Math.max(...pts.map((p) => p.y))];
  if (!pts.length) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (opts.bars) y0 = 0;
  const px = (x1 - x0 || 1) * (opts.bars ? 0.25 : 0.08);
  const py = (y1 - y0 || 1) * 0.08;
  x0 -= px;
  x1 += px;
  if (!opts.bars) y0 -= py;
  y1 += py;
  const L = 64, R = 150, T = 30, B = 44;
  const X = (v: number) => x + L + ((v - x0) / (x1 - x0)) * (w - L - R);
  const Y = (v: number) => y + h - B - ((v - y0) / (y1 - y0)) * (h - T - B);
  const o: string[] = [`<g font-family="sans-serif" font-size="11">`];
  o.push(
    `<text x="${x + (w - R + L) / 2}" y="${y + 18}" text-anchor="middle" font-size="13">${
      esc(title)
    }</text>`,
  );
  o.push(
    `<rect x="${x + L}" y="${y + T}" width="${w - L - R}" height="${
      h - T - B
    }" fill="none" stroke="#999"/>`,
  );
  for (const t of niceTicks(y0, y1)) {
    o.push(`<line x1="${x + L}" x2="${x + w - R}" y1="${Y(t)}" y2="${Y(t)}" stroke="#eee"/>`);
    o.push(`<text x="${x + L - 4}" y="${Y(t) + 4}" text-anchor="end">${fmtTick(t)}</text>`);
  }
  for (const t of opts.xTicks ?? niceTicks(x0, x1)) {
    o.push(`<text x="${X(t)}" y="${y + h - B + 14}" text-anchor="middle">${fmtTick(t)}</text>`);
  }
  o.push(
    `<text x="${x + L + (w - L - R) / 2}" y="${y + h - 8}" text-anchor="middle">${
      esc(xLabel)
    }</text>`,
  );
  o.push(
    `<text transform="translate(${x + 14},${
      y + T + (h - T - B) / 2
    }) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  );
  const nb = series.length;
  const bw = opts.bars
    ? Math.min(14, ((w - L - R) / Math.max(1, opts.xTicks?.length ?? 1)) / (nb + 1))
    : 0;
  series.forEach((s, i) => {
    const ok = s.points.filter((p) => isFinite(p.x) && isFinite(p.y));
    if (opts.bars) {
      for (const p of ok) {
        const cx = X(p.x) + (i - (nb - 1) / 2) * bw;
        o.push(
          `<rect x="${(cx - bw / 2).toFixed(1)}" y="${Y(p.y).toFixed(1)}" width="${
            bw.toFixed(1)
          }" height="${(Y(0) - Y(p.y)).toFixed(1)}" fill="${s.color}"><title>${
            esc(s.name)
          } ${p.x}: ${p.y.toFixed(1)} s</title></rect>`,
        );
      }
    } else {
      if (ok.length > 1) {
        o.push(
          `<polyline fill="none" stroke="${s.color}" stroke-width="2"${
            s.dashed ? ' stroke-dasharray="5,3"' : ""
          } points="${ok.map((p) => `${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(" ")}"/>`,
        );
      }
      for (const p of ok) {
        o.push(
          `<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="3.5" fill="${s.color}"/>`,
        );
      }
    }
    const ly = y + T + 12 + 15 * i;
    o.push(`<rect x="${x + w - R + 10}" y="${ly - 8}" width="10" height="10" fill="${s.color}"/>`);
    o.push(`<text x="${x + w - R + 24}" y="${ly + 1}">${esc(s.name)}</text>`);
  });
  o.push("</g>");
  return o.join("\n");
}

/**
 * compare.svg: left, held-out ln(perplexity) (mean NLL, nats — perplexity on a log scale) against
 * the measured speedup, one line per method through its target speedups, with the dense model at
 * 1×; right, the pruning search's wall time per method (bars) at each target speedup.
 */
export function compareSvg(doc: CompareDoc): string {
  const methods = methodsOf(doc);
  const color = (m: string) => COLORS[methods.indexOf(m) % COLORS.length];
  const quality = methods.map((m) => ({
    name: m,
    color: color(m),
    dashed: m.startsWith("sprint-"),
    points: [
      { x: 1, y: doc.dense.heldout.meanNll },
      ...doc.cells.filter((c) => c.method === m).sort((a, b) => a.targetSpeedup - b.targetSpeedup)
        .map((c) => ({ x: c.speed.speedup, y: c.heldout.meanNll })),
    ],
  }));
  quality.push({
    name: `dense (ppl ${doc.dense.heldout.ppl.toFixed(2)})`,
    color: "#000",
    dashed: false,
    points: [{ x: 1, y: doc.dense.heldout.meanNll }],
  });
  const speeds = speedupsOf(doc);
  const times = methods.map((m) => ({
    name: m,
    color: color(m),
    points: doc.cells.filter((c) => c.method === m).map((c) => ({
      x: c.targetSpeedup,
      y: c.prune.wallSeconds,
    })),
  }));
  const W = 620;
  const H = 380;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}" viewBox="0 0 ${
    2 * W
  } ${H}">\n<rect width="100%" height="100%" fill="white"/>\n${
    xyPanel(
      0,
      0,
      W,
      H,
      "Held-out quality vs measured speedup",
      "measured speedup (latency workload, dense ÷ pruned)",
      "held-out ln(perplexity)",
      quality,
    )
  }\n${
    xyPanel(
      W,
      0,
      W,
      H,
      "Pruning time per method",
      "target speedup",
      "search wall time (s)",
      times,
      { bars: true, xTicks: speeds },
    )
  }\n</svg>\n`;
}
