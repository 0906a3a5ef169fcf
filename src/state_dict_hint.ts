/**
 * What to say when a state dict's encoder keys do not fit the model's. The common case: a state
 * dict of the seed library's `JumpSAE(d, c)` has a Linear-only encoder (its code defaults to
 * `"linear"`, although its docstring says Linear + BatchNorm), while this library's default
 * (`mlp_bn_1`) follows the document.
 *
 * @module
 */

const isEncoderKey = (k: string) => k.startsWith("encoder.");

/**
 * A sentence to append to a missing/unexpected-key error ("" when the encoder keys agree).
 *
 * @param modelKeys The model's state-dict keys.
 * @param dictKeys The keys of the state dict being loaded.
 */
export function encoderMismatchHint(
  modelKeys: Iterable<string>,
  dictKeys: Iterable<string>,
): string {
  const want = [...modelKeys].filter(isEncoderKey), got = [...dictKeys].filter(isEncoderKey);
  const gotSet = new Set(got);
  if (want.length === got.length && want.every((k) => gotSet.has(k))) return "";
  const fix = "; or load the file with loadPretrained, which reads the encoder from the keys";
  const linearOnly = gotSet.has("encoder.final_block.0.weight") &&
    !got.some((k) => k.startsWith("encoder.final_block.1.") || k.startsWith("encoder.mlp_blocks."));
  if (linearOnly && want.some((k) => k.startsWith("encoder.final_block.1."))) {
    return ". The state dict has a Linear-only encoder (encoder.final_block.0.* only), as the seed " +
      'library\'s code builds by default (encoder_module=None is "linear" there, unlike its ' +
      "docstring), but this model's encoder has a norm layer (the default mlp_bn_1 is Linear + " +
      'BatchNorm1d, as the seed document says): build the model with { encoderModule: "linear" }' +
      fix;
  }
  return `. The state dict's encoder (keys ${got.join(", ") || "none"}) is not this model's ` +
    `(keys ${want.join(", ") || "none"}): build the model with the matching encoderModule` + fix;
}
