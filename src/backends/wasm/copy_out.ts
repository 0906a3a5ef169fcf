/**
 * Copies floats out of the shared WASM memory into a fresh (non-shared) Float32Array, fast.
 *
 * V8 copies from a SharedArrayBuffer element by element (`slice`/`set` run about 40× slower than
 * memcpy, measured in Deno 2.9). Where the runtime has multi-memory (V8 ≥ 12), a 71-byte module
 * does `memory.copy` from the shared memory into a second, non-shared memory, whose
 * `buffer.slice` is a plain memcpy. Elsewhere (Node 20) a JavaScript loop copies.
 */

/** (import "e" "s" shared memory) (import "e" "d" memory) (func (export "c") dst src n: memory.copy 1 0) */
const MODULE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  0x01,
  0x07,
  0x01,
  0x60,
  0x03,
  0x7f,
  0x7f,
  0x7f,
  0x00, // type (i32 i32 i32) -> ()
  0x02,
  0x12,
  0x02, // two imports
  0x01,
  0x65,
  0x01,
  0x73,
  0x02,
  0x03,
  0x01,
  0x80,
  0x80,
  0x04, // e.s: shared memory 1..65536
  0x01,
  0x65,
  0x01,
  0x64,
  0x02,
  0x00,
  0x00, // e.d: memory 0..
  0x03,
  0x02,
  0x01,
  0x00, // one function of type 0
  0x07,
  0x05,
  0x01,
  0x01,
  0x63,
  0x00,
  0x00, // export "c"
  0x0a,
  0x0e,
  0x01,
  0x0c,
  0x00,
  0x20,
  0x00,
  0x20,
  0x01,
  0x20,
  0x02,
  0xfc,
  0x0a,
  0x01,
  0x00,
  0x0b,
]);

/**
 * Copies `length` floats at float index `start` of a shared memory into the first `length`
 * elements of `into` (returned), or into a new array.
 */
export type CopyOut = (start: number, length: number, into?: Float32Array) => Float32Array;

/**
 * A copier for `memory`: `slice` when it is not shared; for a shared one, multi-memory where
 * validated, else a JavaScript loop.
 */
export function createCopyOut(memory: WebAssembly.Memory, shared = true): CopyOut {
  if (!shared) {
    return (start, length, into) => {
      const part = new Float32Array(memory.buffer, start * 4, length);
      if (!into) return part.slice();
      into.set(part);
      return into;
    };
  }
  let fast: ((dst: number, src: number, n: number) => void) | null = null;
  let staging: WebAssembly.Memory | null = null;
  try {
    if (WebAssembly.validate(MODULE)) {
      staging = new WebAssembly.Memory({ initial: 0 });
      const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE), {
        e: { s: memory, d: staging },
      });
      fast = instance.exports.c as (dst: number, src: number, n: number) => void;
    }
  } catch {
    fast = null;
  }
  if (fast && staging) {
    const copy = fast, stage = staging;
    return (start, length, into) => {
      const bytes = length * 4;
      const have = stage.buffer.byteLength;
      if (bytes > have) stage.grow(Math.ceil((bytes - have) / 65536));
      copy(0, start * 4, bytes);
      if (!into) return new Float32Array(stage.buffer.slice(0, bytes));
      into.set(new Float32Array(stage.buffer, 0, length)); // a memcpy: both are unshared
      return into;
    };
  }
  return (start, length, into) => {
    const src = new Float32Array(memory.buffer);
    const out = into ?? new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = src[start + i];
    return out;
  };
}
