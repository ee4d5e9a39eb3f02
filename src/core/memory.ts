import * as tf from '@tensorflow/tfjs-core';
import { MemoryBudgetError } from './errors';

/**
 * Guards for the wasm heap. Its memory has a hard ceiling of 4 GiB (65536 pages), grows on
 * demand and never shrinks; and when an allocation fails the backend does not throw: the tensor
 * gets offset 0 and later tensors land on live memory. So we (1) check the heap against a budget
 * between steps and (2) turn a failed allocation into an exception at the moment it happens.
 */

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;
/** wasm32 memory maximum of the tfjs wasm binaries. */
export const WASM_HEAP_CEILING_BYTES = 4 * GiB;
/** Default budget: headroom below the ceiling for XNNPACK's own buffers and fragmentation. */
export const DEFAULT_WASM_HEAP_BUDGET_BYTES = 3.5 * GiB;

export interface MemorySnapshot {
  backend: string;
  /** Current wasm heap size (its high-water mark, since it never shrinks); null off wasm. */
  heapBytes: number | null;
  /** Bytes held by live tensors, as the engine counts them. */
  tensorBytes: number;
  numTensors: number;
}

interface WasmHeapModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

function wasmModuleOrNull(): WasmHeapModule | null {
  if (tf.getBackend() !== 'wasm') return null;
  const mod = (tf.backend() as unknown as { wasm?: WasmHeapModule }).wasm;
  return mod && mod.HEAPU8 ? mod : null;
}

export function memorySnapshot(): MemorySnapshot {
  const m = tf.memory();
  const mod = wasmModuleOrNull();
  return { backend: tf.getBackend(), heapBytes: mod ? mod.HEAPU8.length : null, tensorBytes: m.numBytes, numTensors: m.numTensors };
}

export function formatBytes(n: number): string {
  return n >= GiB ? `${(n / GiB).toFixed(2)} GiB` : `${(n / MiB).toFixed(1)} MiB`;
}

export interface MemoryBudgetOptions {
  /** Heap size allowed on wasm (default 3.5 GiB; clamped to the 4 GiB ceiling). */
  budgetBytes?: number;
}

/**
 * Throws MemoryBudgetError when the wasm heap has grown past the budget; call it after the first
 * steps (where the peak is reached) and periodically. No-op on other backends. Returns the snapshot.
 */
export function checkMemoryBudget(context: string, opts: MemoryBudgetOptions = {}): MemorySnapshot {
  const snap = memorySnapshot();
  if (snap.heapBytes == null) return snap;
  const budget = Math.min(opts.budgetBytes ?? DEFAULT_WASM_HEAP_BUDGET_BYTES, WASM_HEAP_CEILING_BYTES);
  if (snap.heapBytes > budget) {
    throw new MemoryBudgetError(
      `${context}: the wasm heap has grown to ${formatBytes(snap.heapBytes)}, over the budget of ` +
        `${formatBytes(budget)} (hard ceiling ${formatBytes(WASM_HEAP_CEILING_BYTES)}, where allocations fail ` +
        `silently); live tensors hold ${formatBytes(snap.tensorBytes)} in ${snap.numTensors} tensors. ` +
        `Reduce batch_size or the crop sizes (memory grows with batch x pixels), or raise the budget ` +
        `if you know the peak fits.`,
    );
  }
  return snap;
}

/**
 * Rough peak heap of a training step: `fixedBytes` (weights, optimizer state, runtime) plus
 * `perImageBytes` per image at `refPixels` pixels, scaled by pixel count. Measure perImageBytes
 * with a trial step (MobileNetV2 at 64x64 needs ~35 MiB per image, per our notes).
 */
export function estimateWasmPeakBytes(opts: {
  batchSize: number;
  pixels: number;
  perImageBytes: number;
  refPixels: number;
  fixedBytes?: number;
}): number {
  return (opts.fixedBytes ?? 0) + opts.batchSize * opts.perImageBytes * (opts.pixels / opts.refPixels);
}

/** Largest batch whose estimated peak stays within the budget (0 when not even one image fits). */
export function maxBatchForBudget(opts: {
  pixels: number;
  perImageBytes: number;
  refPixels: number;
  fixedBytes?: number;
  budgetBytes?: number;
}): number {
  const budget = opts.budgetBytes ?? DEFAULT_WASM_HEAP_BUDGET_BYTES;
  const perImage = opts.perImageBytes * (opts.pixels / opts.refPixels);
  return Math.max(0, Math.floor((budget - (opts.fixedBytes ?? 0)) / perImage));
}

const GUARDED = Symbol('sslightAllocationGuard');

/**
 * malloc's failure modes seen on this heap: 0 when the heap cannot grow, and, for requests near
 * 4 GiB once the heap has grown, a small bogus block (the size overflows inside the allocator).
 * Sizes >= 2^32 would also be truncated by the i32 call. A real block lies inside the heap.
 */
function allocationFailed(mod: WasmHeapModule, bytes: number, ptr: number): boolean {
  return bytes > 0 && (ptr === 0 || ptr + bytes > mod.HEAPU8.length);
}

function allocationError(mod: WasmHeapModule, bytes: number, context: string): MemoryBudgetError {
  return new MemoryBudgetError(
    `${context}wasm heap allocation of ${formatBytes(bytes)} failed (heap ${formatBytes(mod.HEAPU8.length)}, ` +
      `ceiling ${formatBytes(WASM_HEAP_CEILING_BYTES)}). Reduce batch_size or the crop sizes.`,
  );
}

/**
 * Wraps the wasm module's `_malloc` (which the backend calls for every tensor it creates) so a
 * failed allocation throws MemoryBudgetError instead of handing out offset 0 or a bogus block,
 * the silent-corruption path. Idempotent; no-op off wasm. XNNPACK's internal buffers are
 * allocated inside wasm and are not covered; the heap budget check is the guard for those.
 */
export function installAllocationGuard(): boolean {
  const mod = wasmModuleOrNull() as (WasmHeapModule & { [GUARDED]?: true }) | null;
  if (!mod) return false;
  if (mod[GUARDED]) return true;
  // Emscripten's export stubs replace Module._malloc with the raw export on their first call;
  // make that call now so the replacement does not overwrite our wrapper later.
  mod._free(mod._malloc(8));
  const malloc = mod._malloc.bind(mod);
  mod._malloc = (bytes: number): number => {
    if (bytes >= WASM_HEAP_CEILING_BYTES) throw allocationError(mod, bytes, '');
    const ptr = malloc(bytes);
    if (allocationFailed(mod, bytes, ptr)) {
      if (ptr !== 0) mod._free(ptr);
      throw allocationError(mod, bytes, '');
    }
    return ptr;
  };
  mod[GUARDED] = true;
  return true;
}

/**
 * Checks that the allocator can still hand out `headroomBytes` (default 64 MiB), by allocating
 * and freeing it. Throws MemoryBudgetError when it cannot. No-op off wasm.
 */
export function checkHeapHeadroom(context: string, headroomBytes = 64 * MiB): void {
  const mod = wasmModuleOrNull();
  if (!mod) return;
  const fail = () =>
    new MemoryBudgetError(
      `${context}: the wasm heap cannot provide ${formatBytes(headroomBytes)} more (heap ` +
        `${formatBytes(mod.HEAPU8.length)}, ceiling ${formatBytes(WASM_HEAP_CEILING_BYTES)}). ` +
        `Reduce batch_size or the crop sizes.`,
    );
  if (headroomBytes >= WASM_HEAP_CEILING_BYTES) throw fail();
  let ptr = 0;
  try {
    ptr = mod._malloc(headroomBytes);
  } catch (e) {
    if (e instanceof MemoryBudgetError) throw fail();
    throw e;
  }
  const bad = allocationFailed(mod, headroomBytes, ptr);
  if (ptr !== 0) mod._free(ptr);
  if (bad) throw fail();
}
