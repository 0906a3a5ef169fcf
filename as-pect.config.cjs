/**
 * as-pect configuration for the AssemblyScript kernel specs (assembly/__tests__/*.spec.ts).
 * Run under Node 20 with `sh assembly/__tests__/run.sh`, which does, from a scratch folder
 * holding node_modules (@as-pect/cli 8.1.0, assemblyscript 0.27.37) and a link to assembly/:
 *   node node_modules/@as-pect/cli/bin/asp.js --config as-pect.config.cjs \
 *     --as-config assembly/__tests__/as-pect.asconfig.json
 * The specs use plain SIMD (Node 20 has no relaxed SIMD) and the as-pect runtime; the kernels
 * take raw pointers, so each spec allocates with heap.alloc.
 */
module.exports = {
  entries: ["assembly/__tests__/**/*.spec.ts"],
  include: ["assembly/__tests__/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
