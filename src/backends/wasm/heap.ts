/**
 * The allocator of the WASM memory: 64-byte aligned blocks (16 is the minimum for SIMD; 64 is a
 * cache line), a first-fit free list with coalescing, and a bump pointer that grows the memory.
 * Buffers are byte offsets; the typed-array views are refreshed after each growth.
 */

import { HEAP_BASE } from "./control.ts";

const ALIGN = 64;
const PAGE = 65536;

/** A free or used range of the heap, in bytes. */
interface Block {
  ptr: number;
  size: number;
}

/** The heap over one WebAssembly.Memory. */
export class Heap {
  readonly memory: WebAssembly.Memory;
  /** Largest byte size the memory may reach. */
  readonly maxBytes: number;
  #top = HEAP_BASE;
  /** Highest byte ever handed out: memory above it is still zero. */
  #high = HEAP_BASE;
  #free: Block[] = [];
  #f32: Float32Array;

  constructor(memory: WebAssembly.Memory, maxPages: number) {
    this.memory = memory;
    this.maxBytes = maxPages * PAGE;
    this.#f32 = new Float32Array(memory.buffer);
  }

  /** A Float32Array over the whole memory (current after growth). */
  get f32(): Float32Array {
    if (this.#f32.length * 4 !== this.memory.buffer.byteLength) {
      this.#f32 = new Float32Array(this.memory.buffer);
    }
    return this.#f32;
  }

  /** Bytes in use or free below the bump pointer. */
  get used(): number {
    return this.#top;
  }

  /** Allocates `bytes` (rounded up to 64) and zero-fills them; returns the byte offset. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.#free.length; i++) {
      const b = this.#free[i];
      if (b.size >= size) {
        const ptr = b.ptr;
        if (b.size === size) this.#free.splice(i, 1);
        else {
          b.ptr += size;
          b.size -= size;
        }
        this.f32.fill(0, ptr >>> 2, (ptr + size) >>> 2);
        return ptr;
      }
    }
    const ptr = this.#top, end = ptr + size;
    if (end > this.maxBytes) {
      throw new RangeError(
        `Expected WASM memory within ${this.maxBytes / 2 ** 30} GiB, but ${bytes} more bytes ` +
          `would need ${(end / 2 ** 30).toFixed(2)} GiB`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      // grow by at least 1/8 of the current size to keep growth rare
      const want = Math.min(this.maxBytes, Math.max(end, have + (have >>> 3)));
      this.memory.grow(Math.ceil((want - have) / PAGE));
    }
    this.#top = end;
    if (ptr < this.#high) this.f32.fill(0, ptr >>> 2, Math.min(end, this.#high) >>> 2);
    this.#high = Math.max(this.#high, end);
    return ptr;
  }

  /** Returns a block to the free list (merging neighbours; the top block lowers the bump). */
  free(ptr: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const list = this.#free;
    let i = 0;
    while (i < list.length && list[i].ptr < ptr) i++;
    list.splice(i, 0, { ptr, size });
    if (i + 1 < list.length && list[i].ptr + list[i].size === list[i + 1].ptr) {
      list[i].size += list[i + 1].size;
      list.splice(i + 1, 1);
    }
    if (i > 0 && list[i - 1].ptr + list[i - 1].size === list[i].ptr) {
      list[i - 1].size += list[i].size;
      list.splice(i, 1);
      i--;
    }
    if (list[i].ptr + list[i].size === this.#top) {
      this.#top = list[i].ptr;
      list.splice(i, 1);
    }
  }
}
