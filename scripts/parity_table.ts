/**
 * Prints the parity table against the PyTorch fixtures: for each fixture and device, the
 * largest relative error max|a − b| / max|b| over each group of tensors.
 * Usage: deno run -A scripts/parity_table.ts [device ...]   (default: reference)
 */
import type { Tensor } from "../mod.ts";
import type { Device } from "../src/backends/select.ts";
import { fixtureNames, modelOf } from "../tests/_parity.ts";

function relErr(a: Tensor, b: Tensor): number {
  let diff = 0, ref = 0;
  for (let i = 0; i < b.data.length; i++) {
    diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
    ref = Math.max(ref, Math.abs(b.data[i]));
  }
  return ref === 0 ? diff : diff / ref;
}

const devices = (Deno.args.length ? Deno.args : ["reference"]) as Device[];
const fmt = (v: number) => v.toExponential(1).padStart(8);
console.log(`| fixture | device | outputs | loss | gradients (worst key) | state after |`);
console.log(`| --- | --- | --- | --- | --- | --- |`);
for (const device of devices) {
  for (const name of fixtureNames()) {
    const { sae, loss, tensors, prefixed } = await modelOf(name, device);
    const out = await sae.valueAndGrad(tensors["input.x"], loss);
    const outputs = Math.max(
      relErr(out.preCodes, tensors["out.pre_codes"]),
      relErr(out.codes, tensors["out.codes"]),
      relErr(out.xHat, tensors["out.x_hat"]),
    );
    const lossErr = Math.abs(out.loss - tensors["loss"].data[0]) /
      Math.abs(tensors["loss"].data[0]);
    let worst = 0, worstKey = "";
    for (const [key, g] of Object.entries(prefixed("grad."))) {
      // Linear biases before a training-mode BatchNorm have a zero gradient up to rounding
      const e = relErr(out.grads[key], g);
      if (e > worst && Math.max(...g.data.map(Math.abs)) > 1e-6) [worst, worstKey] = [e, key];
    }
    const after = await sae.stateDict();
    let afterErr = 0;
    for (const [key, t] of Object.entries(prefixed("after."))) {
      afterErr = Math.max(afterErr, relErr(after[key], t));
    }
    console.log(
      `| ${name} | ${device} | ${fmt(outputs)} | ${fmt(lossErr)} | ${fmt(worst)} (${worstKey}) | ${
        fmt(afterErr)
      } |`,
    );
    sae.dispose();
  }
}
