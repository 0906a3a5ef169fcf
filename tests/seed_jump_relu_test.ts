/** The public jumpRelu/heaviside functions against the seed's own (`scripts/make_jump_relu_fixtures.py`). */
import { ok, throws } from "node:assert/strict";
import {
  heaviside,
  heavisideBackward,
  jumpRelu,
  jumpReluBackward,
  KERNEL_NAMES,
  type Tensor,
} from "../mod.ts";
import { loadSafetensors, loadSafetensorsMetadata } from "../src/io/safetensors.ts";

const bytes = Deno.readFileSync(
  new URL("./fixtures/jump_relu/jump_relu.safetensors", import.meta.url),
);
const T = loadSafetensors(bytes);
const bandwidth = JSON.parse(loadSafetensorsMetadata(bytes).bandwidth);

function close(label: string, got: Tensor, want: Tensor) {
  ok(got.shape.join() === want.shape.join(), `${label}: shape ${got.shape} vs ${want.shape}`);
  const ref = Math.max(...Array.from(want.data, Math.abs), 1e-6);
  for (let i = 0; i < want.data.length; i++) {
    ok(
      Math.abs(got.data[i] - want.data[i]) <= 1e-5 * ref,
      `${label}[${i}]: ${got.data[i]} vs ${want.data[i]}`,
    );
  }
}

Deno.test("jumpRelu / heaviside and their backward equal the seed's for every kernel", () => {
  const { x, threshold, grad_output: g } = T;
  for (const kernel of KERNEL_NAMES) {
    close(`${kernel} jump_relu out`, jumpRelu(x, threshold), T[`${kernel}.jump_relu.out`]);
    const j = jumpReluBackward(x, threshold, g, kernel, bandwidth);
    close(`${kernel} jump_relu grad x`, j.x, T[`${kernel}.jump_relu.grad_x`]);
    close(
      `${kernel} jump_relu grad threshold`,
      j.threshold,
      T[`${kernel}.jump_relu.grad_threshold`],
    );
    close(`${kernel} heaviside out`, heaviside(x, threshold), T[`${kernel}.heaviside.out`]);
    const h = heavisideBackward(x, threshold, g, kernel, bandwidth);
    close(`${kernel} heaviside grad x`, h.x, T[`${kernel}.heaviside.grad_x`]);
    close(
      `${kernel} heaviside grad threshold`,
      h.threshold,
      T[`${kernel}.heaviside.grad_threshold`],
    );
  }
});

Deno.test("jumpRelu / heaviside: bad shapes, kernel and bandwith are refused", () => {
  throws(() => jumpRelu([1, 2], [1]), /x must have shape \[N, C\], got \[2\]/);
  throws(() => heaviside([[1, 2]], [1]), /threshold must have shape \[2\], got \[1\]/);
  throws(
    () => jumpReluBackward([[1]], [1], [[1]], "box" as never, 0.1),
    /kernel must be one of rectangle/,
  );
  throws(
    () => heavisideBackward([[1]], [1], [[1]], "gaussian", 0),
    /bandwith must be a finite number > 0, got 0/,
  );
  throws(
    () => jumpReluBackward([[1]], [1], [[1, 2]], "gaussian", 0.1),
    /gradOutput must have shape \[1, 1\]/,
  );
});
