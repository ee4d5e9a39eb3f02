import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import '@tensorflow/tfjs-backend-wasm';
import { MemoryBudgetError } from '../../src/core/errors';
import {
  checkHeapHeadroom,
  checkMemoryBudget,
  estimateWasmPeakBytes,
  installAllocationGuard,
  maxBatchForBudget,
  MiB,
} from '../../src/core/memory';

describe('memory guard', () => {
  it('is a no-op off wasm', async () => {
    await tf.setBackend('cpu');
    const snap = checkMemoryBudget('test', { budgetBytes: 1 });
    expect(snap.heapBytes).to.equal(null);
    expect(installAllocationGuard()).to.equal(false);
  });

  it('estimates the peak and the largest batch from a per-image measurement', () => {
    // MobileNetV2: ~35 MiB per image at 64x64 (notes), so ~100 images fit 3.5 GiB at 64, ~25 at 128.
    expect(maxBatchForBudget({ pixels: 64 * 64, perImageBytes: 35 * MiB, refPixels: 64 * 64 })).to.equal(102);
    expect(maxBatchForBudget({ pixels: 128 * 128, perImageBytes: 35 * MiB, refPixels: 64 * 64 })).to.equal(25);
    expect(
      estimateWasmPeakBytes({ batchSize: 32, pixels: 64 * 64, perImageBytes: 35 * MiB, refPixels: 64 * 64, fixedBytes: 100 * MiB }),
    ).to.equal(1220 * MiB);
  });

  describe('on wasm', () => {
    before(async () => {
      await tf.setBackend('wasm');
      installAllocationGuard();
    });
    after(async () => {
      await tf.setBackend('cpu');
    });

    it('passes under the default budget and reports the heap', () => {
      const snap = checkMemoryBudget('step 1');
      expect(snap.backend).to.equal('wasm');
      expect(snap.heapBytes).to.be.greaterThan(0);
    });

    it('throws MemoryBudgetError with advice when the heap exceeds the budget', () => {
      expect(() => checkMemoryBudget('step 7', { budgetBytes: 1 * MiB }))
        .to.throw(MemoryBudgetError)
        .with.property('message')
        .that.matches(/step 7: the wasm heap has grown to .* over the budget of 1\.0 MiB.*batch_size/);
    });

    it('turns a failed heap allocation into an error instead of offset 0', () => {
      const before = tf.memory().numTensors;
      // ~4 GiB cannot fit beside what the heap holds: malloc returns 0, which the backend would use.
      expect(() => tf.zeros([2 ** 30 - 64])).to.throw(MemoryBudgetError, /allocation of .* failed/);
      expect(tf.memory().numTensors).to.equal(before);
      // The heap still works afterwards.
      expect(Array.from(tf.add(tf.ones([3]), 1).dataSync())).to.deep.equal([2, 2, 2]);
    });

    it('checks that headroom is still available', () => {
      expect(() => checkHeapHeadroom('after step', 16 * MiB)).to.not.throw();
      expect(() => checkHeapHeadroom('after step', 2 ** 32 - 1024)).to.throw(MemoryBudgetError, /after step: .*cannot provide/);
    });
  });
});
