/**
 * A small progress indicator on stderr: a redrawn bar when stderr is a terminal, otherwise a
 * plain line at most every few seconds (and at the end), so logs stay readable.
 *
 * @module
 */

/** Options for {@link Progress}. */
export interface ProgressOptions {
  /** Force the terminal bar (true) or plain lines (false); default: whether stderr is a TTY. */
  tty?: boolean;
  /** Seconds between plain lines (default 5). */
  interval?: number;
  /** Print nothing. */
  quiet?: boolean;
  /** Where the text goes (default: stderr). */
  write?: (text: string) => void;
  /** Start time (`performance.now()`) the rate and ETA count from (default: construction). */
  start?: number;
}

const encoder = new TextEncoder();

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

/**
 * Progress of one job of `total` units.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Progress } from "./progress.ts"; // internal: src/report/ has no package subpath
 * const lines: string[] = [];
 * const p = new Progress("piqa", 200, "docs", { tty: false, interval: 0, write: (t) => lines.push(t) });
 * p.update(50); // e.g. "piqa [██████··················] 50/200 docs  12.5/s  eta 12s"
 * p.update(200);
 * p.done(); // the final line, with the elapsed time
 * assert.equal(lines.length, 2);
 * assert.match(lines[0], /^piqa \[█{6}·{18}\] 50\/200 docs /);
 * ```
 */
export class Progress {
  readonly label: string;
  readonly total: number;
  readonly unit: string;
  readonly #tty: boolean;
  readonly #quiet: boolean;
  readonly #interval: number;
  readonly #write: (text: string) => void;
  readonly #start: number;
  #lastPrint: number;
  #current = 0;
  #finished = false;

  constructor(label: string, total: number, unit = "", options: ProgressOptions = {}) {
    this.label = label;
    this.total = total;
    this.unit = unit;
    this.#quiet = options.quiet ?? false;
    this.#tty = options.tty ?? Deno.stderr.isTerminal();
    this.#interval = (options.interval ?? 5) * 1000;
    this.#write = options.write ?? ((t) => Deno.stderr.writeSync(encoder.encode(t)));
    this.#start = options.start ?? performance.now();
    this.#lastPrint = this.#start;
  }

  /** The line shown for `current` units done. */
  line(current: number, width = 24): string {
    const elapsed = (performance.now() - this.#start) / 1000;
    const frac = this.total > 0 ? Math.min(1, current / this.total) : 1;
    const filled = Math.round(frac * width);
    const bar = "█".repeat(filled) + "·".repeat(width - filled);
    const rate = elapsed > 0 ? current / elapsed : 0;
    const eta = rate > 0 ? (this.total - current) / rate : Infinity;
    const unit = this.unit ? ` ${this.unit}` : "";
    return `${this.label} [${bar}] ${current}/${this.total}${unit}  ${rate.toFixed(1)}/s  ` +
      (current >= this.total ? `${fmtSeconds(elapsed)}` : `eta ${fmtSeconds(eta)}`);
  }

  /** Sets the units done. */
  update(current: number): void {
    this.#current = current;
    if (this.#quiet || this.#finished) return;
    const now = performance.now();
    if (this.#tty) {
      this.#write(`\r\x1b[2K${this.line(current)}`);
    } else if (now - this.#lastPrint >= this.#interval && current < this.total) {
      this.#lastPrint = now;
      this.#write(this.line(current) + "\n");
    }
  }

  /** Ends the bar (a final line in both modes). */
  done(): void {
    if (this.#quiet || this.#finished) return;
    this.#finished = true;
    const text = this.line(this.#current);
    this.#write(this.#tty ? `\r\x1b[2K${text}\n` : text + "\n");
  }
}
