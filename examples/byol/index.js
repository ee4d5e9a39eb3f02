'use strict';
/**
 * BYOL (Grill et al., "Bootstrap your own latent", 2020) as an sslight method, written against
 * the public API only: `require('sslight')`. Load with `--plugin ./examples/byol`, select with
 * `method: {name: byol}`.
 *
 * online = backbone + projector MLP, followed by a predictor MLP (trained);
 * target = an EMA copy of backbone + projector, momentum cosine from `momentum` to `momentum_end`
 * over the run (BYOL's tau schedule). The target sees the global views, the online network every
 * view (SSLight's multi-crop); the loss is loss.js's normalised MSE with eq. 2 / eq. 3 weights.
 */
const sslight = require('sslight');
const { z, MethodBase, MultiCropNetwork, buildMlp, Linear, relu, noGrad, pairWeights, CosineSchedule, ConfigError } = sslight;
const { byolLoss } = require('./loss');

const byolSchema = z
  .object({
    /** Projector: Linear(feat, hidden) - BN - ReLU - Linear(hidden, out_dim). BYOL: 4096 -> 256. */
    hidden_dim: z.number().int().positive().default(4096),
    out_dim: z.number().int().positive().default(256),
    /** Predictor: Linear(out_dim, pred_hidden_dim) - BN - ReLU - Linear(pred_hidden_dim, out_dim). */
    pred_hidden_dim: z.number().int().positive().default(4096),
    use_bn_in_head: z.boolean().default(true),
    /** Target EMA momentum tau: cosine from `momentum` to `momentum_end` (BYOL: 0.996 -> 1). */
    momentum: z.number().min(0).max(1).default(0.996),
    momentum_end: z.number().min(0).max(1).default(1.0),
    /** null: eq. 2 (uniform over view pairs); a number: eq. 3 weight of the global-global pairs. */
    alpha: z.number().min(0).max(1).nullable().default(null),
  })
  .strict();

function mlp(inDim, hiddenDim, outDim, useBn, rng) {
  return buildMlp({ inDim, hiddenDim, outDim, nLayers: 2, useBn, activation: relu, linear: (i, o) => new Linear(i, o, rng) });
}

class Byol extends MethodBase {
  constructor(options, deps) {
    super();
    this.name = 'byol';
    this.options = options;
    try {
      pairWeights(deps.nGlobal, deps.nLocal, options.alpha);
    } catch (e) {
      throw new ConfigError('views', `byol: ${e.message}`);
    }
    this.schedule = new CosineSchedule(options.momentum, options.momentum_end, deps.epochs, deps.stepsPerEpoch);
    const network = () => {
      const backbone = deps.buildBackbone(deps.rng.fork());
      return new MultiCropNetwork(backbone, mlp(backbone.featureDim, options.hidden_dim, options.out_dim, options.use_bn_in_head, deps.rng.fork()));
    };
    // Checkpoint names online.*, predictor.*, target.*; the evaluated backbone is online.backbone
    // (the base's default: the first student that is a MultiCropNetwork).
    this.online = this.addStudent('online', network());
    this.predictor = this.addStudent('predictor', mlp(options.out_dim, options.pred_hidden_dim, options.out_dim, options.use_bn_in_head, deps.rng.fork()));
    this.target = this.addTarget('target', network(), this.online, (step) => this.momentumAt(step));
  }

  /** Target momentum used after global step `step`. */
  momentumAt(step) {
    return this.schedule.at(step);
  }

  computeLoss(batch) {
    const nGlobal = batch.globals.length;
    const nLocal = batch.locals.length;
    // The target takes no gradient: off the tape, like torch.no_grad.
    const targets = noGrad(() => this.target.forward(batch.globals));
    const predictions = this.predictor.forward(this.online.forward([...batch.globals, ...batch.locals]));
    const { loss, pairLoss } = byolLoss(predictions, targets, { nGlobal, nLocal, alpha: this.options.alpha });
    return { loss, pairLoss: { matrix: pairLoss, nGlobal } };
  }

  /** A collapsed BYOL (constant outputs) has loss 0, which a good one approaches too: no check. */
  collapseLoss() {
    return null;
  }
}

function register(api = sslight) {
  api.registerPlugin({
    kind: 'method',
    name: 'byol',
    description: 'BYOL: online network + predictor regress an EMA target (cosine momentum), multi-crop, eq. 2 / eq. 3',
    schema: byolSchema,
    create: (options, deps) => new Byol(options, deps),
  });
}

module.exports = { register, Byol, byolSchema, byolLoss };
