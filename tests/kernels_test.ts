/**
 * The eight pseudo-gradient kernels against PyTorch (tests/fixtures/kernels.safetensors, written
 * by scripts/make_fixtures.py from the seed library's formulas), against values worked out by
 * hand, and their masses against a Riemann sum.
 */

import { ok as assert } from "node:assert/strict";
import { KERNEL_NAMES, kernelMass, type KernelName, kernelValue } from "../src/kernels.ts";

const FIXTURE = new URL("./fixtures/kernels.safetensors", import.meta.url);
const BANDWITHS = ["0.001", "0.5"] as const;
const FLT_EPSILON = 2 ** -23;

/** A tiny safetensors reader (F32 and F64 only), kept here so this test stands alone. */
function readSafetensors(bytes: Uint8Array): Record<string, Float32Array | Float64Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const out: Record<string, Float32Array | Float64Array> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, data_offsets: [begin, end] } = entry as {
      dtype: string;
      data_offsets: number[];
    };
    const raw = bytes.slice(8 + headerLength + begin, 8 + headerLength + end);
    const dv = new DataView(raw.buffer);
    if (dtype === "F32") {
      out[name] = Float32Array.from(
        { length: raw.length / 4 },
        (_, i) => dv.getFloat32(4 * i, true),
      );
    } else if (dtype === "F64") {
      out[name] = Float64Array.from(
        { length: raw.length / 8 },
        (_, i) => dv.getFloat64(8 * i, true),
      );
    } else {
      throw new TypeError(`Expected an F32 or F64 tensor for ${name}, got ${dtype}`);
    }
  }
  return out;
}

const fixture = readSafetensors(await Deno.readFile(FIXTURE));

function get(key: string): Float32Array | Float64Array {
  const value = fixture[key];
  assert(value !== undefined, `kernels.safetensors has no tensor ${key}`);
  return value;
}

Deno.test("kernelValue() matches torch (float64) at every grid point", () => {
  const x = get("x");
  for (const name of KERNEL_NAMES) {
    for (const bw of BANDWITHS) {
      const eps = Math.fround(Number(bw)); // the model's bandwith is a float32 tensor
      const expected = get(`${name}.bw${bw}.f64`);
      for (let i = 0; i < x.length; i++) {
        const got = kernelValue(name, x[i], eps);
        const tol = 1e-6 * Math.abs(expected[i]) + 1e-6;
        assert(
          Math.abs(got - expected[i]) <= tol,
          `${name}(x=${x[i]}, bw=${bw}): expected ${expected[i]}, got ${got}`,
        );
      }
    }
  }
});

Deno.test("kernelValue() matches torch (float32) up to float32 rounding", () => {
  // Torch evaluates the formulas in float32: near the edge of a compact support, 1 - |x|/h
  // cancels, and exp() amplifies the rounding of its argument, so allow a few float32 ulps of
  // the kernel's peak on top of 4e-6 relative.
  const x = get("x");
  for (const name of KERNEL_NAMES) {
    for (const bw of BANDWITHS) {
      const eps = Math.fround(Number(bw));
      const expected = get(`${name}.bw${bw}`);
      const peak = kernelValue(name, 0, eps);
      for (let i = 0; i < x.length; i++) {
        const got = kernelValue(name, x[i], eps);
        const tol = 4e-6 * Math.abs(expected[i]) + 4 * FLT_EPSILON * peak;
        assert(
          Math.abs(got - expected[i]) <= tol,
          `${name}(x=${x[i]}, bw=${bw}): expected ${expected[i]}, got ${got}`,
        );
      }
    }
  }
});

Deno.test("kernelValue() includes the edges of a compact support", () => {
  const x = get("x");
  for (const bw of BANDWITHS) {
    const eps = Math.fround(Number(bw));
    const h = eps / 2;
    const at = (name: KernelName, point: number) => {
      const i = x.indexOf(point);
      assert(i >= 0, `the grid should hold ${point}`);
      return [kernelValue(name, point, eps), get(`${name}.bw${bw}.f64`)[i]];
    };
    for (const point of [h, -h]) {
      const [got, expected] = at("rectangle", point);
      assert(expected === 1 / eps && got === expected, `rectangle(±h) should be 1/bw, got ${got}`);
    }
    for (const point of [eps, -eps]) {
      const [got, expected] = at("cosine", point);
      assert(Math.abs(got - expected) <= 1e-12, `cosine(±bw): expected ${expected}, got ${got}`);
    }
  }
});

/** Values worked out by hand (bandwith 0.5 unless said, so h = 0.25). */
const HAND_VALUES: [KernelName, number, number, number][] = [
  // 1/bw inside [-h, h] (edges included), 0 outside.
  ["rectangle", 0.1, 0.5, 2],
  ["rectangle", 0.3, 0.5, 0],
  // exp(-u²/2) / (bw·sqrt(2π)) with u = x/h.
  ["gaussian", 0, 0.5, 0.7978845608028654],
  ["gaussian", 0.25, 0.5, 0.48394144903828673], // e^(-1/2) · 0.79788…
  // (1 - |x|/h) / h.
  ["triangular", 0.1, 0.5, 2.4],
  ["triangular", 0.0003, 0.001, 800], // (1 - 0.6) / 0.0005
  // (1 + cos(πx/bw)) / 2 on |x| <= bw: no division by the bandwith.
  ["cosine", 0.25, 0.5, 0.5],
  ["cosine", 0.125, 0.5, 0.8535533905932737], // (1 + cos(π/4)) / 2
  // (3/4)(1 - u²) / h.
  ["epanechnikov", 0, 0.5, 3],
  ["epanechnikov", 0.0003, 0.001, 960], // 0.75 · 0.64 / 0.0005
  // (15/16)(1 - u²)² / h.
  ["quartic", 0, 0.5, 3.75],
  ["quartic", 0.125, 0.5, 2.109375], // (15/16) · 0.5625 / 0.25
  // exp(-|u|/√2) · sin(|u|/√2 + π/4) / h.
  ["silverman", 0, 0.5, 2.8284271247461903], // sin(π/4) / 0.25
  ["silverman", -0.3535533905932738, 0.5, 1.437763007014409], // |u|/√2 = 1: e^-1 · sin(1 + π/4) / 0.25
  // 1 / ((1 + u²) · π · h).
  ["cauchy", 0, 0.5, 1.2732395447351628], // 4/π
  ["cauchy", 0.25, 0.5, 0.6366197723675814], // 2/π
];

Deno.test("kernelValue() agrees with values worked out by hand", () => {
  for (const [name, x, eps, expected] of HAND_VALUES) {
    const got = kernelValue(name, x, eps);
    assert(
      Math.abs(got - expected) <= 1e-12 * Math.max(1, Math.abs(expected)),
      `${name}(${x}, ${eps}): expected ${expected}, got ${got}`,
    );
  }
});

/** Midpoint Riemann sum of kernel `name` over [-range, range] with `steps` cells. */
function integrate(name: KernelName, eps: number, range: number, steps: number): number {
  const dx = (2 * range) / steps;
  let sum = 0;
  for (let i = 0; i < steps; i++) sum += kernelValue(name, -range + (i + 0.5) * dx, eps);
  return sum * dx;
}

Deno.test("kernelMass() is the integral of kernelValue()", () => {
  for (const eps of [0.5, 1e-3]) {
    for (const name of KERNEL_NAMES) {
      // 2000 cells per bandwith; the edges ±h and ±bw fall on cell boundaries. Cauchy's tails
      // beyond ±R hold about bw/(πR) of its mass: take R = 5000·bw and a looser tolerance.
      const cauchy = name === "cauchy";
      const range = (cauchy ? 5000 : 20) * eps;
      const mass = integrate(name, eps, range, Math.round((2 * range / eps) * 2000));
      const expected = kernelMass(name, eps);
      const tol = (cauchy ? 1e-4 : 1e-6) * expected;
      assert(
        Math.abs(mass - expected) <= tol,
        `${name} (bw ${eps}): kernelMass says ${expected}, the Riemann sum gives ${mass}`,
      );
    }
  }
});
