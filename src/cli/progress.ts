/**
 * A progress bar on standard error for the command-line tool: redrawn in place on a terminal
 * (at most 10 times a second), silent otherwise.
 *
 * @module
 */

/** Options of `Progress`. */
export interface ProgressOptions {
  /** Draw at all. Default: when standard error is a terminal. */
  enabled?: boolean;
  /** Where to write. Default: standard error. */
  write?: (text: string) => void;
}

function stderrIsTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

function writeStderr(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let done = 0;
  while (done < bytes.length) done += Deno.stderr.writeSync(bytes.subarray(done));
}

/**
 * A one-line progress bar: `label [#####.....] 52% 5200/10000 rows 1.2k rows/s ETA 0:04`.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const lines: string[] = [];
 * const bar = new Progress("encode", 100, "rows", { enabled: true, write: (t) => lines.push(t) });
 * bar.update(100);
 * bar.done();
 * console.log(lines.at(-2)?.includes("100%")); // true
 * ```
 */
export class Progress {
  readonly enabled: boolean;
  #write: (text: string) => void;
  #start = performance.now();
  #last = -Infinity;

  /**
   * @param label Text before the bar.
   * @param total Units expected.
   * @param unit Name of the unit, e.g. `rows`.
   * @param options See `ProgressOptions`.
   */
  constructor(
    readonly label: string,
    readonly total: number,
    readonly unit: string,
    options: ProgressOptions = {},
  ) {
    this.enabled = options.enabled ?? stderrIsTerminal();
    this.#write = options.write ?? writeStderr;
  }

  /** Redraws with `done` units finished and optional extra text. */
  update(done: number, extra = ""): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (done < this.total && now - this.#last < 100) return;
    this.#last = now;
    const fraction = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const width = 24, filled = Math.round(fraction * width);
    const seconds = (now - this.#start) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 ? (this.total - done) / rate : NaN;
    const fmt = (s: number) =>
      Number.isFinite(s)
        ? `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, "0")}`
        : "--:--";
    const rateText = rate >= 1000 ? `${(rate / 1000).toFixed(1)}k` : rate.toFixed(0);
    this.#write(
      `\r${this.label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${
        Math.floor(fraction * 100)
      }% ` +
        `${done}/${this.total} ${this.unit} ${rateText} ${this.unit}/s ETA ${fmt(eta)}${
          extra ? ` ${extra}` : ""
        }\x1b[K`,
    );
  }

  /** Ends the line. */
  done(): void {
    if (this.enabled) this.#write("\n");
  }
}
