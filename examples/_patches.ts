/**
 * Real data for the training examples and benchmarks: 8×8 grayscale patches of the natural
 * photographs that Debian's python3-skimage ships, made once by `scripts/make_patches.py` and
 * committed as `examples/data/patches.npz` (uint8 pixels; train rows from the left half of
 * every photo, test rows from the right half).
 *
 * @module
 */
import { loadNpz, type Tensor } from "./_deps.ts";

/** Train [40000, 64] and held-out test [10000, 64] patches, preprocessed. */
export interface Patches {
  train: Tensor;
  test: Tensor;
  /** Patch side (8). */
  side: number;
}

/**
 * Loads the patches as float32: pixels / 255 with each patch's own mean removed (the usual
 * preprocessing of patch dictionary learning: the dictionary then models texture and edges,
 * not brightness).
 */
export async function loadPatches(): Promise<Patches> {
  const bytes = await Deno.readFile(new URL("./data/patches.npz", import.meta.url));
  const npz = await loadNpz(bytes);
  const prep = (t: Tensor): Tensor => {
    const [n, d] = t.shape;
    const out = new Float32Array(n * d);
    for (let r = 0; r < n; r++) {
      let mean = 0;
      for (let i = 0; i < d; i++) mean += t.data[r * d + i] / 255;
      mean /= d;
      for (let i = 0; i < d; i++) out[r * d + i] = t.data[r * d + i] / 255 - mean;
    }
    return { data: out, shape: [n, d] };
  };
  return { train: prep(npz.train), test: prep(npz.test), side: 8 };
}
