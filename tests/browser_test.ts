/**
 * End to end in real headless Chromium (Debian's `chromium`, driven by playwright-core): the
 * demo page of `examples/web/`, built by `scripts/build_web.ts` and served cross-origin isolated
 * by `scripts/serve_web.ts`, trains a JumpSAE for 300 steps; the loss falls, R² rises, the charts
 * and the dictionary are drawn, and the console shows no error. Served without the COOP/COEP
 * headers, the page still trains (on one thread).
 *
 * Needs Chromium: `apt-get install -y chromium` (or `CHROMIUM_PATH=/path/to/chrome`). Set
 * `JUMPSAE_SCREENSHOT=out/web_demo.png` to keep a screenshot of the page.
 */
import { equal, ok as assert } from "node:assert/strict";
// deno-lint-ignore no-import-prefix
import type { BrowserContext } from "npm:playwright-core@1.65.1";
import { buildWeb, stopBuilder } from "../scripts/build_web.ts";
import { serveWeb } from "../scripts/serve_web.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const STEPS = 300;

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const haveChromium = exists(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `browser_test: skipped, no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`,
  );
}

interface Metrics {
  step: number;
  loss: number;
  r2: number;
  l0: number;
  dead: number;
}
interface DemoState {
  backend: string;
  mode: string;
  step: number;
  done: boolean;
  stepsPerSecond: number;
  recovered: number;
  history: Metrics[];
  error: string | null;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

interface PageRun {
  demo: DemoState;
  isolated: boolean;
  problems: string[];
  inked: [string, number][];
  sampleRows: number;
  status: string | null;
}

/** Opens the page served from `root` (with or without COOP/COEP), trains `steps` steps. */
async function runPage(
  context: BrowserContext,
  root: string,
  isolate: boolean,
  steps: number,
  screenshot?: string,
): Promise<PageRun> {
  const controller = new AbortController();
  const server = serveWeb({ port: 0, root, isolate, signal: controller.signal });
  const page = await context.newPage();
  try {
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console.error: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));

    await page.goto(`http://127.0.0.1:${server.port}/?steps=${steps}`);
    // (Page-side code is passed as text: it runs in the browser, not type-checked as Deno's.)
    await page.waitForFunction(
      "globalThis.jumpsaeDemo && (jumpsaeDemo.done || jumpsaeDemo.error !== null)",
      undefined,
      { timeout: 600_000, polling: 500 },
    );
    // One more frame so that the last draw has happened.
    await page.evaluate("new Promise((r) => requestAnimationFrame(() => r(null)))");
    const demo = await page.evaluate("jumpsaeDemo") as DemoState;
    const isolated = await page.evaluate("self.crossOriginIsolated") as boolean;
    // Pixels of each canvas that differ from white: the charts and the dictionary are drawn.
    const inked = await page.evaluate(`[...document.querySelectorAll("canvas[id]")].map((c) => {
      const { data } = c.getContext("2d").getImageData(0, 0, c.width, c.height);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 0 && (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240)) n++;
      }
      return [c.id, n];
    })`) as [string, number][];
    const sampleRows = await page.locator("#samples tr").count();
    const status = await page.locator("#status").textContent();
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    console.log(
      `browser (${
        isolate ? "COOP/COEP" : "no isolation headers"
      }): ${demo.backend}; ${demo.mode}; ` +
        `${demo.stepsPerSecond.toFixed(1)} steps/s; crossOriginIsolated ${isolated}; ` +
        `recovered ${demo.recovered}/48; status "${status}"`,
    );
    return { demo, isolated, problems, inked, sampleRows, status };
  } finally {
    await page.close();
    controller.abort();
  }
}

/** `navigator.hardwareConcurrency` of the browser. */
async function navigatorCores(context: BrowserContext): Promise<number> {
  const page = await context.newPage();
  try {
    return await page.evaluate("navigator.hardwareConcurrency") as number;
  } finally {
    await page.close();
  }
}

/** The checks every run must pass: no error, `steps` steps, the loss halves, finite metrics. */
function assertTrained(run: PageRun, steps: number): void {
  const { demo, problems } = run;
  equal(demo.error, null);
  equal(problems.length, 0, problems.join("\n"));
  assert(demo.done);
  equal(demo.history.length, steps);
  equal(demo.history[steps - 1].step, steps);
  const h = demo.history;
  assert(h.every((m) => Number.isFinite(m.loss) && Number.isFinite(m.r2)), "non-finite metrics");
  const first = mean(h.slice(0, 20).map((m) => m.loss));
  const last = mean(h.slice(-20).map((m) => m.loss));
  assert(last < 0.5 * first, `loss did not fall: first 20 steps ${first}, last 20 ${last}`);
  assert(demo.stepsPerSecond > 0);
}

Deno.test({
  name: "examples/web: the page trains a JumpSAE in headless Chromium, loss falls, charts render",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    // deno-lint-ignore no-import-prefix
    const { chromium } = await import("npm:playwright-core@1.65.1");
    const dir = await Deno.makeTempDir({ prefix: "jumpsae_browser_" });
    try {
      await buildWeb({ out: `${dir}/site/dist` });
      await stopBuilder();
      await Deno.copyFile(
        new URL("../examples/web/index.html", import.meta.url),
        `${dir}/site/index.html`,
      );
      const context = await chromium.launchPersistentContext(`${dir}/profile`, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
        viewport: { width: 1100, height: 900 },
      });
      try {
        await t.step(
          `cross-origin isolated: ${STEPS} steps, charts, dictionary, samples`,
          async () => {
            const screenshot = Deno.env.get("JUMPSAE_SCREENSHOT");
            const run = await runPage(context, `${dir}/site`, true, STEPS, screenshot);
            assertTrained(run, STEPS);
            assert(run.isolated, "the page is not cross-origin isolated (COOP/COEP headers)");
            // No WebGPU adapter with --disable-gpu: the CPU backend, on the machine's cores.
            const cores = await navigatorCores(context);
            if (run.demo.backend.startsWith("WASM")) {
              assert(run.demo.backend.startsWith(`WASM, ${cores} thread`), run.demo.backend);
            }
            const h = run.demo.history;
            const r2Last = mean(h.slice(-20).map((m) => m.r2));
            assert(r2Last > mean(h.slice(0, 20).map((m) => m.r2)) && r2Last > 0.3, `R² ${r2Last}`);
            for (const [id, n] of run.inked) {
              assert(n > 300, `canvas #${id} looks empty (${n} inked pixels)`);
            }
            assert(run.inked.length >= 5, `expected 4 charts and the dictionary, got ${run.inked}`);
            assert(run.sampleRows >= 1, "no top-activating samples listed");
          },
        );
        await t.step("without COOP/COEP: still trains, on one thread", async () => {
          const run = await runPage(context, `${dir}/site`, false, 100);
          equal(run.isolated, false);
          assertTrained(run, 100);
          assert(/\b1 thread\b/.test(run.demo.backend), run.demo.backend);
        });
      } finally {
        await context.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
