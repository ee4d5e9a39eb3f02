import * as tf from '@tensorflow/tfjs-core';

export interface KernelShare {
  kernel: string;
  /** ms per measured step. */
  ms: number;
  /** Share of the measured steps' total time. */
  share: number;
  calls: number;
}

/**
 * Times every registered kernel of a backend while `measuring` is on: top-level calls only (a
 * kernel called from inside another counts in its caller), so the shares add up to at most 1.
 * `restore()` puts the original kernels back.
 */
export class KernelTimer {
  measuring = false;
  private readonly time = new Map<string, number>();
  private readonly calls = new Map<string, number>();
  private readonly originals: tf.KernelConfig[];
  private depth = 0;

  constructor(private readonly backend: string) {
    this.originals = tf.getKernelsForBackend(backend);
    for (const k of this.originals) {
      const f = k.kernelFunc;
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel({
        ...k,
        kernelFunc: (args) => {
          if (this.depth > 0 || !this.measuring) return f(args);
          this.depth++;
          const t0 = performance.now();
          try {
            return f(args);
          } finally {
            this.depth--;
            this.time.set(k.kernelName, (this.time.get(k.kernelName) ?? 0) + performance.now() - t0);
            this.calls.set(k.kernelName, (this.calls.get(k.kernelName) ?? 0) + 1);
          }
        },
      });
    }
  }

  /** Per kernel, largest first, for `steps` measured steps totalling `totalMs`. */
  report(steps: number, totalMs: number): KernelShare[] {
    return [...this.time.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([kernel, ms]) => ({ kernel, ms: ms / steps, share: ms / totalMs, calls: (this.calls.get(kernel) ?? 0) / steps }));
  }

  restore(): void {
    for (const k of this.originals) {
      tf.unregisterKernel(k.kernelName, this.backend);
      tf.registerKernel(k);
    }
  }
}

export function printKernelShares(kernels: KernelShare[], minShare = 0.002): void {
  for (const k of kernels.filter((x) => x.share >= minShare)) {
    console.log(`${k.kernel.padEnd(40)} ${k.ms.toFixed(1).padStart(8)} ms ${(100 * k.share).toFixed(1).padStart(5)}%  ${k.calls} calls`);
  }
  const share = kernels.reduce((a, k) => a + k.share, 0);
  const calls = kernels.reduce((a, k) => a + k.calls, 0);
  console.log(`kernels ${(100 * share).toFixed(1)}% of the time, ${calls} calls per step`);
}
