// Importing this module registers the built-in optimizers.
import './lars';
import './adamw';
import './sgd';

export { Lars, larsSchema, larsRule, DEPTHWISE_RULES, type DepthwiseRule, type LarsOptions } from './lars';
export { AdamW, adamwSchema, type AdamwOptions } from './adamw';
export { Sgd, sgdSchema, type SgdOptions } from './sgd';
export { ScheduledOptimizer, scheduleShape, peakLr, isRegularized } from './common';
