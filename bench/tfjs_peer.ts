/**
 * The tfjs-backend-wasm peer (XNNPACK, SIMD): GEMM GFLOP/s of tf.matMul at one shape, on a given
 * thread count, printed as one JSON line. Run by `bench/run.ts` in its own process, because tfjs
 * picks its thread count once per process:
 *
 *   deno run -A bench/tfjs_peer.ts --threads 2 --m 1024 --k 768 --n 10000 --reps 5
 *
 * The threaded build starts its workers from files; in Deno that needs node:worker_threads, which
 * Emscripten's Node path uses. When it cannot start, the line says so (`error`).
 */

// deno-lint-ignore-file no-import-prefix
import * as tf from "npm:@tensorflow/tfjs-core@4.22.0";
import { setThreadsCount, setWasmPaths } from "npm:@tensorflow/tfjs-backend-wasm@4.22.0";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const threads = arg("threads", 1), m = arg("m", 1024), k = arg("k", 768), n = arg("n", 10000);
const reps = arg("reps", 5);
try {
  const dist = new URL("./", import.meta.resolve("npm:@tensorflow/tfjs-backend-wasm@4.22.0"));
  setWasmPaths(dist.pathname);
  setThreadsCount(threads);
  if (!(await tf.setBackend("wasm"))) throw new Error("tf.setBackend('wasm') failed");
  await tf.ready();
  // deno-lint-ignore no-explicit-any
  const actual = (tf.backend() as any).wasm?.tfjs?.getThreadsCount?.() ?? threads;
  const a = tf.randomNormal([m, k]), b = tf.randomNormal([k, n]);
  let best = Infinity;
  for (let r = 0; r < reps + 1; r++) {
    const t = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    const dt = performance.now() - t;
    c.dispose();
    if (r > 0) best = Math.min(best, dt);
  }
  console.log(
    JSON.stringify({
      threads,
      actualThreads: actual,
      ms: best,
      gflops: (2 * m * n * k) / best / 1e6,
    }),
  );
} catch (e) {
  console.log(JSON.stringify({ threads, error: String((e as Error)?.message ?? e).slice(0, 300) }));
}
Deno.exit(0);
