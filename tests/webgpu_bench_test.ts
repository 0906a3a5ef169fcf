/**
 * Smoke test of `bench/gpu.ts --small`: it runs on this machine's adapter (a software one is
 * fine) and reports every GEMM, ops and model row with a finite time, and no GEMM row's sampled
 * check fails. PyTorch rows are skipped.
 */

const adapter =
  await (globalThis.navigator as { gpu?: GPU }).gpu?.requestAdapter().catch(() => null) ?? null;

Deno.test({
  name: `bench/gpu.ts --small runs and reports every row${adapter ? "" : " (no WebGPU adapter)"}`,
  ignore: !adapter,
  fn: async () => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../bench/gpu.ts", import.meta.url).pathname,
        "--small",
        "--no-torch",
        "--json",
        "--reps",
        "1",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout);
    if (code !== 0) {
      throw new Error(`expected exit code 0, got ${code}: ${new TextDecoder().decode(stderr)}`);
    }
    const rows = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const names = rows.map((r) => r.row);
    // per concept count: 5 GEMM rows, 2 ops rows, 2 model rows
    const want = ["gemm", "ops forward", "ops train step", "model forward", "model train step"];
    for (const w of want) {
      if (!names.some((n: string) => n.startsWith(w))) {
        throw new Error(`expected a "${w}" row, got ${names}`);
      }
    }
    if (rows.length !== 18) throw new Error(`expected 18 rows, got ${rows.length}: ${names}`);
    for (const r of rows) {
      if (!Number.isFinite(r.ms) || r.ms <= 0) {
        throw new Error(`expected a positive time in ${JSON.stringify(r)}`);
      }
      // GEMM rows check 16 sampled entries against float64
      if (/WRONG/.test(r.note ?? "")) {
        throw new Error(`expected a correct product in ${JSON.stringify(r)}`);
      }
    }
  },
});
