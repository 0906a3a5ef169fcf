/**
 * The file fuzzer (`deno task fuzz`): thousands of deterministic cases per reader, each run in a
 * watched child process (a crash or a hang is caught and named), checked against numpy (run on
 * the spot, for .npy and .npz), the safetensors rules, or the checkpoint's own tensors.
 *
 * ```sh
 * deno task fuzz                          # 2500 cases of each of the 5 formats
 * deno task fuzz --cases 400 --formats npy,npz --seed 7
 * deno task fuzz --write-reference        # rewrites tests/fixtures/fuzz/numpy_reference.json
 * ```
 *
 * Prints a table per format: cases, loaded and equal, refused, refused though the reference
 * loads, failures (escaped errors, silent corruptions), crashes, hangs, the slowest case and
 * the peak memory growth of a child against the largest case. Exits 1 on any failure.
 *
 * @module
 */

import { FORMATS, fuzzCase, type FuzzFormat, loadBases, TEST_CASES } from "../tests/_fuzz.ts";
import { FAILURES, ours, type Reference, safetensorsRules, verdict } from "../tests/_fuzz_check.ts";

const PYTHON = "/usr/bin/python3";
const REFERENCE_SCRIPT = new URL("./fuzz_reference.py", import.meta.url).pathname;
const FIXTURE = new URL("../tests/fixtures/fuzz/numpy_reference.json", import.meta.url);
/** A child silent for this long is hung. */
const HANG_MS = 30_000;
const CHUNK = 500;

function arg(name: string, fallback: string): string {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 && Deno.args[at + 1] ? Deno.args[at + 1] : fallback;
}

/** numpy's results for cases `0 .. count-1` of `kind` (npy or npz), keyed by index. */
async function numpyReference(
  kind: "npy" | "npz",
  count: number,
  seed: number,
): Promise<Record<string, Reference>> {
  const bases = await loadBases();
  const dir = await Deno.makeTempDir({ prefix: `jumpsae_fuzz_${kind}_` });
  try {
    for (let i = 0; i < count; i++) {
      await Deno.writeFile(`${dir}/${i}.${kind}`, fuzzCase(bases, kind, i, seed));
    }
    const run = await new Deno.Command(PYTHON, { args: [REFERENCE_SCRIPT, dir] }).output();
    if (!run.success) throw new Error(new TextDecoder().decode(run.stderr));
    return JSON.parse(new TextDecoder().decode(run.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Child: runs cases `start .. start+count-1`, one JSON line each ("begin" first, for crashes). */
async function child(format: FuzzFormat, start: number, count: number, seed: number, ref: string) {
  const bases = await loadBases();
  const reference: Record<string, Reference> = ref ? JSON.parse(await Deno.readTextFile(ref)) : {};
  const dir = await Deno.makeTempDir({ prefix: "jumpsae_fuzz_case_" });
  const write = (line: unknown) =>
    Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(line) + "\n"));
  const baseline = peakRss();
  try {
    for (let i = start; i < start + count; i++) {
      write({ begin: i });
      const bytes = fuzzCase(bases, format, i, seed);
      const t0 = performance.now();
      const outcome = await ours(format, bytes, dir);
      const ms = performance.now() - t0;
      const expected = format === "safetensors"
        ? await safetensorsRules(bytes)
        : format === "checkpoint"
        ? {
          ok: outcome.kind === "loaded",
          arrays: outcome.kind === "loaded" ? outcome.arrays : {},
        } as Reference
        : reference[String(i)];
      if (!expected) throw new Error(`no reference for case ${i}`);
      const v = format === "checkpoint" && outcome.kind === "loaded" && "mismatch" in outcome.arrays
        ? "loaded-different"
        : verdict(outcome, expected);
      write({
        i,
        verdict: v,
        ms,
        size: bytes.length,
        growth: peakRss() - baseline,
        message: outcome.kind === "loaded" ? undefined : outcome.message.slice(0, 160),
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Peak resident memory of this process (VmHWM), in bytes; 0 where /proc is missing. */
function peakRss(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

interface Row {
  cases: number;
  verdicts: Record<string, number>;
  crashes: number[];
  hangs: number[];
  failures: { i: number; verdict: string; message?: string }[];
  slowestMs: number;
  peakGrowth: number;
  largest: number;
}

/** Runs one chunk in a child; on a crash or hang, records it and goes on after that case. */
async function runChunk(
  format: FuzzFormat,
  start: number,
  count: number,
  seed: number,
  ref: string,
  row: Row,
) {
  let next = start;
  while (next < start + count) {
    const proc = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--max-old-space-size=2048",
        import.meta.url,
        "--child",
        format,
        String(next),
        String(start + count - next),
        String(seed),
        ref,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let current = -1;
    let timer = setTimeout(() => proc.kill("SIGKILL"), HANG_MS);
    let hung = false;
    const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    proc.stderr.cancel();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = JSON.parse(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        clearTimeout(timer);
        timer = setTimeout(() => {
          hung = true;
          proc.kill("SIGKILL");
        }, HANG_MS);
        if ("begin" in line) {
          current = line.begin;
          continue;
        }
        current = -1;
        next = line.i + 1;
        row.cases++;
        row.verdicts[line.verdict] = (row.verdicts[line.verdict] ?? 0) + 1;
        row.slowestMs = Math.max(row.slowestMs, line.ms);
        row.peakGrowth = Math.max(row.peakGrowth, line.growth);
        row.largest = Math.max(row.largest, line.size);
        if (FAILURES.includes(line.verdict)) {
          row.failures.push({ i: line.i, verdict: line.verdict, message: line.message });
        }
      }
    }
    clearTimeout(timer);
    const status = await proc.status;
    if (current >= 0) {
      (hung ? row.hangs : row.crashes).push(current);
      row.cases++;
      next = current + 1;
    } else if (!status.success && next < start + count) {
      row.crashes.push(next);
      next++;
    }
  }
}

async function main() {
  if (Deno.args[0] === "--child") {
    const [, format, start, count, seed, ref] = Deno.args;
    await child(format as FuzzFormat, Number(start), Number(count), Number(seed), ref ?? "");
    return;
  }
  const seed = Number(arg("seed", "12"));
  if (Deno.args.includes("--write-reference")) {
    const out = {
      seed,
      cases: TEST_CASES,
      npy: await numpyReference("npy", TEST_CASES, seed),
      npz: await numpyReference("npz", TEST_CASES, seed),
    };
    await Deno.mkdir(new URL(".", FIXTURE), { recursive: true });
    await Deno.writeTextFile(FIXTURE, JSON.stringify(out) + "\n");
    console.log(`wrote ${FIXTURE.pathname}: ${TEST_CASES} .npy and .npz cases, seed ${seed}`);
    return;
  }
  const cases = Number(arg("cases", "2500"));
  const formats = arg("formats", FORMATS.join(",")).split(",") as FuzzFormat[];
  const rows: Record<string, Row> = {};
  let failed = false;
  for (const format of formats) {
    const row: Row = {
      cases: 0,
      verdicts: {},
      crashes: [],
      hangs: [],
      failures: [],
      slowestMs: 0,
      peakGrowth: 0,
      largest: 0,
    };
    let ref = "";
    if (format === "npy" || format === "npy-stream" || format === "npz") {
      const kind = format === "npz" ? "npz" : "npy";
      ref = await Deno.makeTempFile({ prefix: `jumpsae_fuzz_ref_${kind}_` });
      await Deno.writeTextFile(ref, JSON.stringify(await numpyReference(kind, cases, seed)));
    }
    for (let start = 0; start < cases; start += CHUNK) {
      await runChunk(format, start, Math.min(CHUNK, cases - start), seed, ref, row);
    }
    if (ref) await Deno.remove(ref);
    rows[format] = row;
    failed ||= row.failures.length + row.crashes.length + row.hangs.length > 0;
    for (const f of row.failures.slice(0, 10)) {
      console.log(`  ${format} case ${f.i}: ${f.verdict} ${f.message ?? ""}`);
    }
  }
  const header = [
    "format",
    "cases",
    "loaded = reference",
    "refused",
    "refused, reference loads",
    "failures",
    "crashes",
    "hangs",
    "slowest case",
    "peak RSS growth",
    "largest case",
  ];
  console.log(`\nseed ${seed}\n| ${header.join(" | ")} |\n|${header.map(() => " --- |").join("")}`);
  let total = 0;
  for (const [format, r] of Object.entries(rows)) {
    total += r.cases;
    console.log(
      `| ${format} | ${r.cases} | ${r.verdicts["loaded-equal"] ?? 0} | ${
        r.verdicts["refused"] ?? 0
      } | ${
        r.verdicts["refused-but-reference-loads"] ?? 0
      } | ${r.failures.length} | ${r.crashes.length} | ${r.hangs.length} | ${
        r.slowestMs.toFixed(1)
      } ms | ${(r.peakGrowth / 2 ** 20).toFixed(1)} MiB | ${(r.largest / 1024).toFixed(1)} KiB |`,
    );
  }
  console.log(`\n${total} cases, ${failed ? "FAILURES (see above)" : "0 failures"}`);
  if (failed) Deno.exit(1);
}

if (import.meta.main) await main();
