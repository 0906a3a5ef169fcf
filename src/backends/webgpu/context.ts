/**
 * The WebGPU device of one backend: buffers, the pipeline cache, the command batch, limits and
 * errors. Ops become dispatches recorded into one command encoder (one open compute pass) that
 * is submitted only when a download, an upload or a flush threshold needs it.
 *
 * - Pipelines are cached by `KernelSource.key`, which never holds a runtime size: sizes travel
 *   in a uniform slot of a shared parameter ring, staged on the host and written once per batch.
 * - A grid wider than `maxComputeWorkgroupsPerDimension` is split into several dispatches, each
 *   with its workgroup offset (`base_x`, `base_y`) in its own uniform slot: nothing is truncated.
 * - Every buffer must be bindable whole, so an allocation larger than
 *   `maxStorageBufferBindingSize` (or `maxBufferSize`) is refused with a RangeError naming both.
 * - Temporaries (partial sums) and freed buffers are pooled and reused; staging buffers for
 *   downloads too.
 * - A lost device rejects pending downloads and makes every later call throw an Error naming the
 *   reason; an uncaptured GPU error is reported as an Error by the next download.
 */

import type { DeviceBuffer } from "../backend.ts";
import type { KernelSource } from "./wgsl/common.ts";

/** A float32 buffer on the device; `length` floats, allocated padded to a multiple of 4. */
export class GpuBuffer implements DeviceBuffer {
  constructor(
    readonly gpu: GPUBuffer,
    readonly length: number,
    readonly owner: GpuContext,
  ) {}
  /** Bytes of the underlying GPU buffer. */
  get bytes(): number {
    return this.gpu.size;
  }
}

/** Options of a context (limits may be lowered, e.g. to test dispatch splitting). */
export interface ContextOptions {
  /** Use at most this many workgroups per grid dimension (default: the device limit). */
  maxWorkgroupsPerDimension?: number;
  /** Submit after this many dispatches even without a download (default 512). */
  flushEvery?: number;
}

const PARAM_SLOTS = 1024;
const FREE_POOL_BYTES = 512 * 1024 * 1024;
const STAGING_POOL_MAX = 64 * 1024 * 1024;

/** Bytes of a buffer of `length` floats: a multiple of 16, at least 16. */
export function paddedBytes(length: number): number {
  return Math.max(16, Math.ceil(length / 4) * 16);
}

/** Owns a GPUDevice and records, batches and submits work on it. */
export class GpuContext {
  readonly maxWorkgroups: number;
  readonly maxBinding: number;
  readonly maxBufferSize: number;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly slot: number;
  private readonly paramBuffer: GPUBuffer;
  private readonly paramStage: ArrayBuffer;
  private paramsUsed = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private readonly flushEvery: number;
  private readonly live = new Set<GpuBuffer>();
  private readonly freePool = new Map<number, GPUBuffer[]>();
  private freePoolBytes = 0;
  private readonly tempPool = new Map<number, GpuBuffer[]>();
  private readonly stagingPool = new Map<number, GPUBuffer[]>();
  private readonly pending = new Set<(e: Error) => void>();
  private args: GpuBuffer | null = null;
  private lostError: Error | null = null;
  private gpuError: Error | null = null;
  private disposed = false;

  constructor(readonly device: GPUDevice, options: ContextOptions = {}) {
    const limits = device.limits;
    this.maxWorkgroups = Math.min(
      limits.maxComputeWorkgroupsPerDimension,
      options.maxWorkgroupsPerDimension ?? Infinity,
    );
    if (!(this.maxWorkgroups >= 1)) {
      throw new RangeError(
        `maxWorkgroupsPerDimension must be at least 1, got ${options.maxWorkgroupsPerDimension}`,
      );
    }
    this.maxBinding = limits.maxStorageBufferBindingSize;
    this.maxBufferSize = limits.maxBufferSize;
    this.flushEvery = options.flushEvery ?? 512;
    this.slot = Math.max(256, limits.minUniformBufferOffsetAlignment);
    this.paramStage = new ArrayBuffer(this.slot * PARAM_SLOTS);
    this.paramBuffer = device.createBuffer({
      label: "jumpsae params",
      size: this.slot * PARAM_SLOTS,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.lost.then((info) => {
      if (this.disposed) return;
      this.lostError = new Error(
        `WebGPU device lost (${info.reason ?? "unknown"}): ${info.message}`,
      );
      for (const reject of this.pending) reject(this.lostError);
      this.pending.clear();
    });
    const onError = (event: Event) => {
      const message = (event as GPUUncapturedErrorEvent).error?.message ?? String(event);
      this.gpuError ??= new Error(`WebGPU error: ${message}`);
    };
    device.addEventListener("uncapturederror", onError);
  }

  /** Throws when the context can no longer run work. */
  check(): void {
    if (this.disposed) throw new Error("The WebGPU backend was disposed, expected a live backend");
    if (this.lostError) throw this.lostError;
  }

  /** Allocates a zero-filled buffer of `length` floats. */
  alloc(length: number, label = "jumpsae"): GpuBuffer {
    this.check();
    if (!Number.isInteger(length) || length < 0) {
      throw new RangeError(`Buffer length must be a non-negative integer, got ${length}`);
    }
    const bytes = paddedBytes(length);
    const limit = Math.min(this.maxBinding, this.maxBufferSize);
    if (bytes > limit) {
      throw new RangeError(
        `A WebGPU buffer of ${length} floats (${bytes} bytes) exceeds this device's limit of ${limit} bytes ` +
          `(maxStorageBufferBindingSize ${this.maxBinding}, maxBufferSize ${this.maxBufferSize}); ` +
          `use a smaller batch or the "cpu" device`,
      );
    }
    const reused = this.freePool.get(bytes)?.pop();
    let gpu: GPUBuffer;
    if (reused) {
      this.freePoolBytes -= bytes;
      gpu = reused;
      this.endPass();
      this.getEncoder().clearBuffer(gpu);
    } else {
      gpu = this.device.createBuffer({
        label,
        size: bytes,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
    }
    const buffer = new GpuBuffer(gpu, length, this);
    this.live.add(buffer);
    return buffer;
  }

  /** Whether `buffer` was allocated here and not freed. */
  isLive(buffer: GpuBuffer): boolean {
    return this.live.has(buffer);
  }

  /** Returns a buffer; its memory is pooled for later allocations of the same size. */
  free(buffer: GpuBuffer): void {
    if (!this.live.delete(buffer)) return;
    if (this.disposed) return;
    if (this.freePoolBytes + buffer.bytes <= FREE_POOL_BYTES) {
      const list = this.freePool.get(buffer.bytes) ?? [];
      list.push(buffer.gpu);
      this.freePool.set(buffer.bytes, list);
      this.freePoolBytes += buffer.bytes;
    } else {
      // Work already recorded may still use it: destroy after it is submitted.
      this.flush();
      buffer.gpu.destroy();
    }
  }

  /** A pooled temporary of at least `length` floats (contents undefined); give it back with `release`. */
  temp(length: number): GpuBuffer {
    const bytes = 2 ** Math.ceil(Math.log2(paddedBytes(length)));
    const found = this.tempPool.get(bytes)?.pop();
    if (found) return found;
    const gpu = this.device.createBuffer({
      label: "jumpsae temp",
      size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    return new GpuBuffer(gpu, bytes / 4, this);
  }

  /**
   * Returns a temporary to the pool. Safe right after recording the ops that use it: dispatches
   * run in recording order, so a later op reusing it cannot overtake them.
   */
  release(buffer: GpuBuffer): void {
    const list = this.tempPool.get(buffer.bytes) ?? [];
    list.push(buffer);
    this.tempPool.set(buffer.bytes, list);
  }

  /** Writes floats into a buffer, after all work recorded so far. */
  write(dst: GpuBuffer, data: Float32Array, offset: number): void {
    this.check();
    this.flush();
    // Data on a SharedArrayBuffer (e.g. a threaded WASM heap) is copied first.
    const own = data.buffer instanceof ArrayBuffer
      ? data as Float32Array<ArrayBuffer>
      : data.slice();
    this.device.queue.writeBuffer(dst.gpu, offset * 4, own.buffer, own.byteOffset, own.byteLength);
  }

  /** Records a buffer-to-buffer copy of `n` floats. */
  copyBuffer(dst: GpuBuffer, src: GpuBuffer, n: number): void {
    this.check();
    if (n === 0) return;
    this.endPass();
    this.getEncoder().copyBufferToBuffer(src.gpu, 0, dst.gpu, 0, n * 4);
    this.count();
  }

  /** Reads `length` floats of `src` from float `offset`, after all recorded work. */
  async read(src: GpuBuffer, offset: number, length: number): Promise<Float32Array> {
    this.check();
    if (length === 0) {
      this.flush();
      return this.takeError(new Float32Array(0));
    }
    const bytes = length * 4;
    // Small staging buffers are pooled by power-of-two size; large ones are made to measure and
    // destroyed after use (a pooled 1 GiB staging buffer would double the memory of a model).
    const pooled = bytes <= STAGING_POOL_MAX;
    const size = pooled ? 2 ** Math.ceil(Math.log2(Math.max(bytes, 16))) : bytes;
    const staging = (pooled ? this.stagingPool.get(size)?.pop() : undefined) ??
      this.device.createBuffer({
        label: "jumpsae staging",
        size,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
    this.endPass();
    this.getEncoder().copyBufferToBuffer(src.gpu, offset * 4, staging, 0, bytes);
    this.flush();
    let reject!: (e: Error) => void;
    const lost = new Promise<never>((_, r) => (reject = r));
    this.pending.add(reject);
    try {
      await Promise.race([staging.mapAsync(GPUMapMode.READ, 0, bytes), lost]);
    } catch (e) {
      this.check();
      throw this.gpuError ?? e;
    } finally {
      this.pending.delete(reject);
    }
    const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
    staging.unmap();
    if (pooled) {
      const list = this.stagingPool.get(size) ?? [];
      list.push(staging);
      this.stagingPool.set(size, list);
    } else {
      staging.destroy();
    }
    return this.takeError(out);
  }

  /** Rejects with the first uncaptured GPU error since the last read, if any. */
  private takeError(out: Float32Array): Float32Array {
    const error = this.gpuError;
    if (error) {
      this.gpuError = null;
      throw error;
    }
    return out;
  }

  /** The pipeline of a kernel, compiled once per key. */
  pipeline(src: KernelSource): GPUComputePipeline {
    let p = this.pipelines.get(src.key);
    if (!p) {
      const module = this.device.createShaderModule({ label: src.key, code: src.code() });
      p = this.device.createComputePipeline({
        label: src.key,
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      this.pipelines.set(src.key, p);
    }
    return p;
  }

  /**
   * Records `src` over a grid of gx×gy workgroups with the given storage buffers (in the order of
   * `src.bindings`) and uniform values (by field name). Grids wider than the limit become several
   * dispatches. A writable buffer bound twice is refused (WebGPU forbids it).
   */
  run(
    src: KernelSource,
    buffers: readonly GpuBuffer[],
    values: Record<string, number>,
    gx: number,
    gy = 1,
  ): void {
    this.check();
    this.checkBindings(src, buffers);
    if (gx === 0 || gy === 0) return;
    const pipeline = this.pipeline(src);
    const max = this.maxWorkgroups;
    for (let y0 = 0; y0 < gy; y0 += max) {
      for (let x0 = 0; x0 < gx; x0 += max) {
        const offset = this.params(src, values, x0, y0);
        const group = this.device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: this.paramBuffer, offset, size: this.slot } },
            ...buffers.map((b, i) => ({ binding: i + 1, resource: { buffer: b.gpu } })),
          ],
        });
        const pass = this.getPass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(Math.min(max, gx - x0), Math.min(max, gy - y0));
        this.count();
      }
    }
  }

  /** Refuses a wrong buffer count and a writable buffer bound twice (WebGPU forbids it). */
  private checkBindings(src: KernelSource, buffers: readonly GpuBuffer[]): void {
    if (buffers.length !== src.bindings.length) {
      throw new Error(
        `Kernel ${src.key} expects ${src.bindings.length} buffers, got ${buffers.length}`,
      );
    }
    for (let i = 0; i < buffers.length; i++) {
      if (!src.bindings[i].write) continue;
      for (let j = 0; j < buffers.length; j++) {
        if (j !== i && buffers[j] === buffers[i]) {
          throw new RangeError(
            `${src.key}: output ${src.bindings[i].name} must be a buffer distinct from ${
              src.bindings[j].name
            }, got the same buffer`,
          );
        }
      }
    }
  }

  /** A small buffer of indirect dispatch sizes (u32), written by kernels and read by `runIndirect`. */
  indirectArgs(): GpuBuffer {
    if (!this.args) {
      const gpu = this.device.createBuffer({
        label: "jumpsae indirect args",
        size: 32,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.INDIRECT | GPUBufferUsage.COPY_DST,
      });
      this.args = new GpuBuffer(gpu, 8, this);
    }
    return this.args;
  }

  /**
   * Records `src` with its grid read on the GPU from `args` at byte `offset` (x, y, z as u32,
   * written by an earlier kernel; each at most the workgroup limit, which the writer ensures).
   */
  runIndirect(
    src: KernelSource,
    buffers: readonly GpuBuffer[],
    values: Record<string, number>,
    args: GpuBuffer,
    offset: number,
  ): void {
    this.check();
    this.checkBindings(src, buffers);
    const pipeline = this.pipeline(src);
    const slot = this.params(src, values, 0, 0);
    const group = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: this.paramBuffer, offset: slot, size: this.slot } },
        ...buffers.map((b, i) => ({ binding: i + 1, resource: { buffer: b.gpu } })),
      ],
    });
    const pass = this.getPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroupsIndirect(args.gpu, offset);
    this.count();
  }

  /** Stages one uniform slot and returns its byte offset. */
  private params(
    src: KernelSource,
    values: Record<string, number>,
    x0: number,
    y0: number,
  ): number {
    if (this.paramsUsed === PARAM_SLOTS) this.flush();
    const offset = this.paramsUsed * this.slot;
    this.paramsUsed++;
    const u32 = new Uint32Array(this.paramStage, offset, this.slot / 4);
    const f32 = new Float32Array(this.paramStage, offset, this.slot / 4);
    u32[0] = x0;
    u32[1] = y0;
    src.fields.forEach(([name, type], i) => {
      const v = values[name];
      if (v === undefined) {
        throw new Error(`Kernel ${src.key} needs the parameter ${name}, got none`);
      }
      if (type === "u32") u32[i + 2] = v;
      else f32[i + 2] = v;
    });
    return offset;
  }

  private getEncoder(): GPUCommandEncoder {
    return this.encoder ??= this.device.createCommandEncoder({ label: "jumpsae batch" });
  }

  private getPass(): GPUComputePassEncoder {
    return this.pass ??= this.getEncoder().beginComputePass();
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private count(): void {
    if (++this.dispatches >= this.flushEvery) this.flush();
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.paramsUsed > 0) {
      this.device.queue.writeBuffer(
        this.paramBuffer,
        0,
        this.paramStage,
        0,
        this.paramsUsed * this.slot,
      );
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.paramsUsed = 0;
    this.dispatches = 0;
  }

  /** Waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.check();
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Destroys every buffer and the device. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.encoder = null;
    this.pass = null;
    for (const b of this.live) b.gpu.destroy();
    this.live.clear();
    for (const pool of [this.freePool, this.stagingPool]) {
      for (const list of pool.values()) for (const b of list) b.destroy();
      pool.clear();
    }
    for (const list of this.tempPool.values()) for (const b of list) b.gpu.destroy();
    this.tempPool.clear();
    this.paramBuffer.destroy();
    this.args?.gpu.destroy();
    const error = new Error("The WebGPU backend was disposed while a download was pending");
    for (const reject of this.pending) reject(error);
    this.pending.clear();
    this.device.destroy();
  }
}
