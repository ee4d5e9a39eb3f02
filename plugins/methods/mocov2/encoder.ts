import type * as tf from '@tensorflow/tfjs-core';
import { MultiCropNetwork } from '../common/multicrop';
import type { MocoHead } from './head';

/**
 * A MoCo encoder as SSLight's MultiCropWrapper around backbone + MOCOHead (views of one
 * resolution through the backbone as one batch, then the head over all rows; outputs not
 * normalised). Torch names `backbone.*`, `head.*`.
 */
export class MocoEncoder extends MultiCropNetwork<tf.Tensor2D, MocoHead> {}
