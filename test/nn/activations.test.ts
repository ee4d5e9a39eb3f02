import * as tf from '@tensorflow/tfjs-core';
import { gelu, relu6 } from '../../src/nn/activations';
import { expectClose } from '../helpers/reference';

describe('nn/activations', () => {
  it('relu6 clamps to [0, 6]', () => {
    expectClose(relu6(tf.tensor1d([-1, 0.5, 6, 7.5])).dataSync(), [0, 0.5, 6, 6]);
  });

  it('gelu is the exact erf form (torch.nn.GELU values)', () => {
    // torch.nn.functional.gelu(torch.tensor([-3., -1., -0.5, 0., 0.5, 1., 3.]))
    const expected = [-0.0040496, -0.15865526, -0.15426877, 0, 0.34573123, 0.84134474, 2.9959502];
    expectClose(gelu(tf.tensor1d([-3, -1, -0.5, 0, 0.5, 1, 3])).dataSync(), expected, { rtol: 1e-4, atol: 1e-5 });
  });
});
