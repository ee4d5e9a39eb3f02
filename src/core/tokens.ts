/**
 * Injection tokens of the run container (tsyringe). The composition root (src/run/compose.ts)
 * registers a factory per token from the config; tests register their own to swap any part.
 */
export const Tokens = {
  Config: Symbol('Config'),
  RunOptions: Symbol('RunOptions'),
  Events: Symbol('Events'),
  Rng: Symbol('Rng'),
  Dataset: Symbol('Dataset'),
  Views: Symbol('Views'),
  BatchSource: Symbol('BatchSource'),
  BackboneFactory: Symbol('BackboneFactory'),
  Method: Symbol('Method'),
  Optimizer: Symbol('Optimizer'),
  Callbacks: Symbol('Callbacks'),
  CheckpointStore: Symbol('CheckpointStore'),
} as const;
