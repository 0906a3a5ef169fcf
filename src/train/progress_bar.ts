/** Options of `ProgressBar`. */
export interface ProgressBarOptions {
  /** Draw at all. Default: when stdout is a terminal. */
  enabled?: boolean;
  /** Where to write. Default: stdout. */
  write?: (text: string) => void;
  /** Width of the bar in characters. Default 24. */
  width?: number;
}

/** Whether standard output is a terminal (Deno or Node); false elsewhere. */
export function stdoutIsTerminal(): boolean {
  const g = globalThis as {
    Deno?: { stdout?: { isTerminal?: () => boolean } };
    process?: { stdout?: { isTTY?: boolean } };
  };
  try {
    if (g.Deno?.stdout?.isTerminal) return g.Deno.stdout.isTerminal();
    return g.process?.stdout?.isTTY === true;
  } catch {
    return false;
  }
}

function writeStdout(text: string): void {
  const g = globalThis as {
    Deno?: { stdout: { writeSync(b: Uint8Array): number } };
    process?: { stdout: { write(s: string): void } };
  };
  if (g.Deno) {
    const bytes = new TextEncoder().encode(text);
    let done = 0;
    while (done < bytes.length) done += g.Deno.stdout.writeSync(bytes.subarray(done));
  } else g.process?.stdout.write(text);
}

/** Formats seconds as m:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/**
 * A one-line terminal progress bar with elapsed time, ETA and running metrics, redrawn in place
 * at most 10 times a second. Disabled (every call a no-op) when stdout is not a terminal.
 *
 * @example
 * ```ts
 * import { ProgressBar } from "./progress_bar.ts";
 * const bar = new ProgressBar("Epoch 1/3", 100, { enabled: false });
 * bar.update(50, { loss: 0.12, r2: 0.93 });
 * bar.done();
 * ```
 */
export class ProgressBar {
  /** Whether the bar draws (false: every call is a no-op). */
  readonly enabled: boolean;
  #write: (text: string) => void;
  #width: number;
  #start = Date.now();
  #lastDraw = 0;
  #lastLine = "";

  /**
   * A bar labelled `label` for `total` steps.
   *
   * @param label Text before the bar, e.g. `Epoch 3/20`.
   * @param total Steps expected (0 or NaN when unknown: no bar nor ETA).
   * @param options See `ProgressBarOptions`.
   */
  constructor(readonly label: string, public total: number, options: ProgressBarOptions = {}) {
    this.enabled = options.enabled ?? stdoutIsTerminal();
    this.#write = options.write ?? writeStdout;
    this.#width = options.width ?? 24;
  }

  /** The line that `update(done, metrics)` draws. */
  render(done: number, metrics: Record<string, number> = {}, now: number = Date.now()): string {
    const elapsed = (now - this.#start) / 1000;
    const known = this.total > 0 && Number.isFinite(this.total);
    const parts = [this.label];
    if (known) {
      const frac = Math.min(1, done / this.total);
      const full = Math.round(frac * this.#width);
      parts.push(
        `[${"=".repeat(Math.max(0, full - 1))}${full > 0 ? ">" : ""}${
          " ".repeat(this.#width - full)
        }]`,
      );
      parts.push(`${done}/${this.total}`);
      const eta = done > 0 ? (elapsed / done) * (this.total - done) : NaN;
      parts.push(`${formatDuration(elapsed)}<${formatDuration(eta)}`);
    } else {
      parts.push(`${done}`, formatDuration(elapsed));
    }
    for (const [k, v] of Object.entries(metrics)) {
      if (Number.isFinite(v)) {
        parts.push(
          `${k} ${
            Math.abs(v) >= 1e3 || (v !== 0 && Math.abs(v) < 1e-3)
              ? v.toExponential(2)
              : v.toFixed(4)
          }`,
        );
      }
    }
    return parts.join(" ");
  }

  /** Redraws the line (throttled), unless disabled. */
  update(done: number, metrics: Record<string, number> = {}): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.#lastDraw < 100 && done < this.total) return;
    this.#lastDraw = now;
    const line = this.render(done, metrics, now);
    const pad = Math.max(0, this.#lastLine.length - line.length);
    this.#lastLine = line;
    this.#write(`\r${line}${" ".repeat(pad)}`);
  }

  /** Ends the line. */
  done(): void {
    if (this.enabled && this.#lastLine) this.#write("\n");
    this.#lastLine = "";
  }
}
