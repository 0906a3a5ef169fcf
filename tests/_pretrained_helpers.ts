/** Shared helpers of the pretrained and CLI tests. */
import { loadNpz } from "../src/io/npz.ts";
import type { Tensor } from "../src/tensor.ts";

/** Path of a file under tests/fixtures/pretrained/. */
export function fixturePath(...parts: string[]): string {
  return new URL(`./fixtures/pretrained/${parts.join("/")}`, import.meta.url).pathname;
}

/** The expected outputs of a fixture case: x, pre, acts, recon. */
export async function expected(caseName: string): Promise<Record<string, Tensor>> {
  return await loadNpz(await Deno.readFile(fixturePath(caseName, "expected.npz")));
}

/** Asserts |a − b| ≤ atol + rtol·|b| elementwise and equal shapes. */
export function assertClose(
  actual: Tensor,
  expectedT: Tensor,
  label: string,
  atol = 1e-5,
  rtol = 1e-5,
): void {
  if (actual.shape.join() !== expectedT.shape.join()) {
    throw new Error(`${label}: shape [${actual.shape}] differs from [${expectedT.shape}]`);
  }
  for (let i = 0; i < expectedT.data.length; i++) {
    const a = actual.data[i], b = expectedT.data[i];
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) {
      throw new Error(`${label}: element ${i} is ${a}, expected ${b}`);
    }
  }
}

/** A temporary directory removed after `fn`. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "jumpsae_test_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
