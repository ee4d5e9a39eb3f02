'use strict';
// A backbone plugin: conv-BN-ReLU stages, then global average pooling.
// Load with --plugin ./examples/plugins/tiny_cnn.js, select with backbone: {name: tiny_cnn}.
const { tf, z, registerPlugin, Module, Conv2d, BatchNorm2d, globalAvgPool } = require('sslight');

class TinyCnn extends Module {
  constructor(widths, rng) {
    super();
    this.stages = [];
    let inChannels = 3;
    widths.forEach((w, i) => {
      // addModule names the parameters (`conv0.weight`, `bn0.running_mean`, ...) in checkpoints.
      const conv = this.addModule(`conv${i}`, new Conv2d(inChannels, w, 3, rng, { stride: 2, padding: 1, init: 'kaiming_normal' }));
      const bn = this.addModule(`bn${i}`, new BatchNorm2d(w));
      this.stages.push([conv, bn]);
      inChannels = w;
    });
    /** The trainer and the heads read the pooled feature size from here. */
    this.featureDim = inChannels;
  }

  /** images NHWC [B, H, W, 3] -> pooled features [B, featureDim]. */
  forward(x) {
    return tf.tidy(() => globalAvgPool(this.stages.reduce((h, [conv, bn]) => tf.relu(bn.forward(conv.forward(h))), x)));
  }
}

registerPlugin({
  kind: 'backbone',
  name: 'tiny_cnn',
  description: 'conv 3x3 stride 2 - BN - ReLU stages and global average pooling',
  schema: z.object({ widths: z.array(z.number().int().positive()).min(1).default([16, 32, 64]) }).strict(),
  // deps.rng: a seeded stream, so initialisation is reproducible and independent per network.
  create: (options, { rng }) => new TinyCnn(options.widths, rng),
});

module.exports = { TinyCnn };
