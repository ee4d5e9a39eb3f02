// Importing this module registers the built-in SSL methods.
import './dino/dino';
import './swav/swav';
import './mocov2/mocov2';

export { Dino, dinoSchema, DinoNetwork, type DinoOptions } from './dino/dino';
export { Swav, swavSchema, SwavNetwork, type SwavOptions } from './swav/swav';
export { Mocov2, mocov2Schema, type Mocov2Options } from './mocov2/mocov2';
export { DinoHead, WeightNormLinear } from './dino/head';
export { dinoLoss, updateCenter, teacherEntropies } from './dino/loss';
export * from './common';
