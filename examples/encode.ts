/**
 * Encodes and decodes a batch with the seed's default JumpSAE and prints shapes, L0 and the
 * reconstruction error. Run: `deno task example`.
 */
import { JumpSAE } from "../mod.ts";

const dim = 768, concepts = 10_000, batch = 64;
const sae = new JumpSAE(dim, concepts, { seed: 0 });
const x = { data: new Float32Array(batch * dim), shape: [batch, dim] };
for (let i = 0; i < x.data.length; i++) x.data[i] = Math.sin(i * 0.37) + 0.1 * Math.cos(i * 1.7);

const { preCodes, codes, xHat } = await sae.forward(x);
let active = 0, err = 0, energy = 0;
for (const v of codes.data) if (v !== 0) active++;
for (let i = 0; i < x.data.length; i++) {
  err += (x.data[i] - xHat.data[i]) ** 2;
  energy += x.data[i] ** 2;
}
console.log(
  `preCodes ${JSON.stringify(preCodes.shape)}, codes ${JSON.stringify(codes.shape)}, xHat ${
    JSON.stringify(xHat.shape)
  }`,
);
console.log(`mean L0 ${(active / batch).toFixed(1)} of ${concepts} concepts`);
console.log(`relative reconstruction error ${(err / energy).toFixed(4)} (untrained model)`);
sae.dispose();
