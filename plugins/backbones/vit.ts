import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Rng } from '../../src/core/rng';
import type { Backbone } from '../../src/core/interfaces';
import { registerPlugin } from '../../src/core/registry';
import { Module } from '../../src/nn/module';
import { ModuleList } from '../../src/nn/container';
import { Conv2d } from '../../src/nn/conv2d';
import { Linear } from '../../src/nn/linear';
import { LayerNorm } from '../../src/nn/layernorm';
import { gelu } from '../../src/nn/activations';
import { truncNormal } from '../../src/nn/init';
import { recordMacs } from '../../src/nn/macs';
import { initFromWeights, weightsOptionShape } from './weights_option';

/**
 * DINO's Vision Transformer (facebookresearch/dino vision_transformer.py, = timm's VisionTransformer
 * with class token, no head): patch-embed conv -> [cls | patches] + pos_embed -> pre-norm blocks
 * (LN -> MHSA -> residual, LN -> MLP(GELU) -> residual) -> LN -> cls token [B, embed].
 *
 * Tokens are kept as a 2-D [B*N, D] matrix between blocks so every Linear is one plain
 * (non-transposed, batch-1) matMul, the fast XNNPACK path on wasm; only attention goes 3-D.
 */

export interface ViTOptions {
  embedDim: number;
  depth: number;
  numHeads: number;
  patchSize?: number;
  /** Size pos_embed is created for; other input sizes interpolate it (see interpolatePosEmbed). */
  imgSize?: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  /** Stochastic depth; only 0 is supported (see the schema). */
  dropPathRate?: number;
  inChans?: number;
}

/** timm's Mlp: fc1 -> GELU -> fc2 (dropout 0 as in DINO). */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(dim: number, hidden: number, rng: Rng) {
    super();
    this.fc1 = this.addModule('fc1', new Linear(dim, hidden, rng, { init: 'trunc_normal' }));
    this.fc2 = this.addModule('fc2', new Linear(hidden, dim, rng, { init: 'trunc_normal' }));
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.fc2.forward(gelu(this.fc1.forward(x))));
  }
}

/**
 * Multi-head self-attention on tokens [B*N, D] (batch size and token count passed in), with
 * timm's parameters (qkv: Linear(D, 3D), proj: Linear(D, D)). Per head, the products are
 * batched matMuls over [B, N, hd]: q @ k^T with transposeB (our wasm BatchMatMul transposes k
 * once per call, then runs one non-transposed GEMM per batch entry), attn @ v non-transposed.
 */
export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;
  readonly scale: number;

  constructor(readonly dim: number, readonly numHeads: number, qkvBias: boolean, rng: Rng) {
    super();
    if (dim % numHeads !== 0) throw new Error(`Attention: dim ${dim} is not divisible by ${numHeads} heads`);
    this.headDim = dim / numHeads;
    this.scale = this.headDim ** -0.5;
    this.qkv = this.addModule('qkv', new Linear(dim, dim * 3, rng, { bias: qkvBias, init: 'trunc_normal' }));
    this.proj = this.addModule('proj', new Linear(dim, dim, rng, { init: 'trunc_normal' }));
    const hd = this.headDim;
    // Column concat whose gradient is column slices: tf.concat's own gradient is tf.split, whose
    // wasm SplitV copies element-wise (~13 ms for a [1184, 576] split); Slice is a row memcpy.
    // customGrad passes the inputs, then a save function, as arguments.
    const merge = (...args: unknown[]): { value: tf.Tensor2D; gradFunc: (dy: tf.Tensor) => tf.Tensor[] } => {
      const heads = args.slice(0, numHeads) as tf.Tensor2D[];
      return {
        value: tf.concat(heads, 1),
        gradFunc: (dy: tf.Tensor) => heads.map((_, i) => tf.slice(dy, [0, i * hd], [-1, hd])),
      };
    };
    this.mergeHeads = tf.customGrad(merge as Parameters<typeof tf.customGrad>[0]) as (...heads: tf.Tensor2D[]) => tf.Tensor2D;
  }

  private readonly mergeHeads: (...heads: tf.Tensor2D[]) => tf.Tensor2D;

  forward(x: tf.Tensor2D, batch: number, tokens: number): tf.Tensor2D {
    const { numHeads: h, headDim: hd } = this;
    const rows = batch * tokens;
    return tf.tidy(() => {
      // The qkv columns are (3, H, hd) as in torch's reshape(B, N, 3, H, hd). Per head, q/k/v are
      // column slices [B*N, hd] of the one qkv GEMM, viewed as [B, N, hd]; heads are merged by a
      // column concat. Same result as torch's permute(2, 0, 3, 1, 4) ... transpose(1, 2), but
      // wasm runs 4-/5-D Transposes as element-wise gathers (half the step time when we used them).
      const qkv = this.qkv.forward(x);
      const part = (block: number) => tf.reshape(tf.slice(qkv, [0, block * hd], [rows, hd]), [batch, tokens, hd]) as tf.Tensor3D;
      const outs: tf.Tensor2D[] = [];
      for (let i = 0; i < h; i++) {
        const attn = tf.softmax(tf.mul(tf.matMul(part(i), part(h + i), false, true), this.scale), -1);
        outs.push(tf.reshape(tf.matMul(attn, part(2 * h + i)), [rows, hd]) as tf.Tensor2D);
      }
      recordMacs(2 * batch * h * tokens * tokens * hd); // q @ k^T and attn @ v, as backbones.json counts them
      return this.proj.forward(h === 1 ? outs[0] : this.mergeHeads(...outs));
    });
  }
}

/** Pre-norm transformer block (DINO's Block with drop_path 0). */
export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(dim: number, numHeads: number, mlpRatio: number, qkvBias: boolean, rng: Rng) {
    super();
    this.norm1 = this.addModule('norm1', new LayerNorm(dim, { eps: 1e-6 }));
    this.attn = this.addModule('attn', new Attention(dim, numHeads, qkvBias, rng));
    this.norm2 = this.addModule('norm2', new LayerNorm(dim, { eps: 1e-6 }));
    this.mlp = this.addModule('mlp', new Mlp(dim, Math.floor(dim * mlpRatio), rng));
  }

  forward(x: tf.Tensor2D, batch: number, tokens: number): tf.Tensor2D {
    return tf.tidy(() => {
      const y = tf.add(x, this.attn.forward(this.norm1.forward(x), batch, tokens)) as tf.Tensor2D;
      return tf.add(y, this.mlp.forward(this.norm2.forward(y))) as tf.Tensor2D;
    });
  }
}

/** Conv patch embedding (timm PatchEmbed): kernel = stride = patch, with bias. */
export class PatchEmbed extends Module {
  readonly proj: Conv2d;

  constructor(readonly patchSize: number, inChans: number, embedDim: number, rng: Rng) {
    super();
    // DINO's _init_weights only touches nn.Linear and nn.LayerNorm: the conv keeps torch's default init.
    this.proj = this.addModule('proj', new Conv2d(inChans, embedDim, patchSize, rng, { stride: patchSize, bias: true }));
  }

  /** [B, H, W, C] -> tokens [B, gh * gw, D] in row-major (h, w) order, as torch's flatten(2). */
  forward(x: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const y = this.proj.forward(x);
      const [b, gh, gw, d] = y.shape;
      return tf.reshape(y, [b, gh * gw, d]);
    });
  }
}

// ------------------------------------------------------------------ pos-embed interpolation

/** torch's cubic convolution weights (A = -0.75) for the 4 taps around a source coordinate. */
function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const cc1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1; // |x| <= 1
  const cc2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2
  return [cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)];
}

/**
 * The [out, in] matrix of 1-D bicubic resampling as torch's upsample_bicubic2d computes it with
 * align_corners=False and an explicit scale factor: source = (dst + 0.5) / scale - 0.5 (not
 * clamped), taps at floor(source) - 1 .. + 2 clamped to the border.
 */
export function bicubicMatrix1D(inSize: number, outSize: number, scale: number): Float64Array {
  const m = new Float64Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const src = (o + 0.5) / scale - 0.5;
    const i0 = Math.floor(src);
    const w = cubicWeights(src - i0);
    for (let k = 0; k < 4; k++) {
      const i = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      m[o * inSize + i] += w[k];
    }
  }
  return m;
}

/**
 * [gh*gw, g*g] matrix that resamples a g x g grid of position embeddings to gh x gw, exactly as
 * DINO's interpolate_pos_encoding: F.interpolate(mode='bicubic', scale_factor=((gh + 0.1) / g,
 * (gw + 0.1) / g)) (the 0.1 only guards floor() against rounding, but torch then uses that scale
 * for the coordinates, so we do too). Separable: kron(rows, cols). As a constant matrix the
 * resampling is one matMul in the graph, so pos_embed gets its gradient through it for free.
 */
export function posEmbedInterpolationMatrix(g: number, gh: number, gw: number): Float32Array {
  const rows = bicubicMatrix1D(g, gh, (gh + 0.1) / g);
  const cols = bicubicMatrix1D(g, gw, (gw + 0.1) / g);
  const n = g * g;
  const out = new Float32Array(gh * gw * n);
  for (let oy = 0; oy < gh; oy++) {
    for (let ox = 0; ox < gw; ox++) {
      const r = (oy * gw + ox) * n;
      for (let iy = 0; iy < g; iy++) {
        const wy = rows[oy * g + iy];
        if (wy === 0) continue;
        for (let ix = 0; ix < g; ix++) out[r + iy * g + ix] = wy * cols[ox * g + ix];
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------ the network

export class VisionTransformer extends Module implements Backbone {
  readonly featureDim: number;
  readonly patchSize: number;
  /** Side of the pos_embed grid (imgSize / patchSize). */
  readonly gridSize: number;
  readonly patch_embed: PatchEmbed;
  readonly cls_token: tf.Variable;
  readonly pos_embed: tf.Variable;
  readonly blocks: ModuleList<Block>;
  readonly norm: LayerNorm;
  private readonly interp = new Map<string, Float32Array>();

  constructor(opts: ViTOptions, rng: Rng) {
    super();
    const {
      embedDim,
      depth,
      numHeads,
      patchSize = 16,
      imgSize = 224,
      mlpRatio = 4,
      qkvBias = true,
      dropPathRate = 0,
      inChans = 3,
    } = opts;
    if (dropPathRate !== 0) {
      throw new Error(
        `VisionTransformer: drop_path_rate ${dropPathRate} is not supported (stochastic depth needs per-step ` +
          'randomness the backbone forward does not get); use 0',
      );
    }
    if (imgSize % patchSize !== 0) throw new Error(`VisionTransformer: img_size ${imgSize} is not a multiple of patch_size ${patchSize}`);
    this.featureDim = embedDim;
    this.patchSize = patchSize;
    this.gridSize = imgSize / patchSize;
    const numPatches = this.gridSize * this.gridSize;
    // Registration order gives DINO's state-dict order: cls_token, pos_embed, patch_embed, blocks, norm.
    // cls_token / pos_embed are 3-D, so DINO's get_params_groups decays them: kind 'weight'.
    this.cls_token = this.addParam('cls_token', truncNormal([1, 1, embedDim], rng, { std: 0.02 }), 'weight');
    this.pos_embed = this.addParam('pos_embed', truncNormal([1, numPatches + 1, embedDim], rng, { std: 0.02 }), 'weight');
    this.patch_embed = this.addModule('patch_embed', new PatchEmbed(patchSize, inChans, embedDim, rng));
    this.blocks = this.addModule('blocks', new ModuleList<Block>());
    for (let i = 0; i < depth; i++) this.blocks.push(new Block(embedDim, numHeads, mlpRatio, qkvBias, rng));
    this.norm = this.addModule('norm', new LayerNorm(embedDim, { eps: 1e-6 }));
  }

  /** pos_embed for a gh x gw patch grid, [1 + gh*gw, D] (cls row first). */
  posEmbedFor(gh: number, gw: number): tf.Tensor2D {
    return tf.tidy(() => {
      const d = this.featureDim;
      const pe = tf.reshape(this.pos_embed, [-1, d]) as tf.Tensor2D;
      const g = this.gridSize;
      if (gh === g && gw === g) return pe;
      const key = `${gh}x${gw}`;
      let m = this.interp.get(key);
      if (!m) this.interp.set(key, (m = posEmbedInterpolationMatrix(g, gh, gw)));
      const [cls, grid] = tf.split(pe, [1, g * g], 0);
      const resampled = tf.matMul(tf.tensor2d(m, [gh * gw, g * g]), grid);
      return tf.concat([cls, resampled], 0) as tf.Tensor2D;
    });
  }

  /** Tokens after the last block, before the final norm: [B, N, D] with N = 1 + gh*gw. */
  tokens(imagesNHWC: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, hImg, wImg] = imagesNHWC.shape;
      const gh = Math.floor(hImg / this.patchSize);
      const gw = Math.floor(wImg / this.patchSize);
      if (gh < 1 || gw < 1) {
        throw new Error(`VisionTransformer: input ${hImg}x${wImg} is smaller than one ${this.patchSize}x${this.patchSize} patch`);
      }
      const d = this.featureDim;
      const n = 1 + gh * gw;
      const patches = this.patch_embed.forward(imagesNHWC);
      const cls = tf.broadcastTo(this.cls_token, [b, 1, d]);
      const x3 = tf.add(tf.concat([cls, patches], 1), this.posEmbedFor(gh, gw));
      let x = tf.reshape(x3, [b * n, d]) as tf.Tensor2D;
      for (const blk of this.blocks) x = blk.forward(x, b, n);
      return tf.reshape(x, [b, n, d]);
    });
  }

  /** Final-norm cls token [B, embed]. The norm is per token, so only the cls row is normalised. */
  forward(imagesNHWC: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const t = this.tokens(imagesNHWC);
      const [b, , d] = t.shape;
      return this.norm.forward(tf.reshape(tf.slice(t, [0, 0, 0], [b, 1, d]), [b, d]) as tf.Tensor2D);
    });
  }
}

export const VIT_ARCHS = {
  vit_tiny: { embedDim: 192, depth: 12, numHeads: 3 },
  vit_small: { embedDim: 384, depth: 12, numHeads: 6 },
} as const;

export const vitSchema = z
  .object({
    patch_size: z.number().int().positive().default(16),
    img_size: z.number().int().positive().default(224),
    drop_path_rate: z
      .number()
      .default(0)
      .refine((v) => v === 0, { message: 'drop_path_rate must be 0: stochastic depth is not implemented' }),
    ...weightsOptionShape,
  })
  .strict();
export type ViTPluginOptions = z.output<typeof vitSchema>;

export function createViT(arch: keyof typeof VIT_ARCHS, o: ViTPluginOptions, rng: Rng): VisionTransformer {
  return new VisionTransformer(
    {
      ...VIT_ARCHS[arch],
      patchSize: o.patch_size,
      imgSize: o.img_size,
      dropPathRate: o.drop_path_rate,
    },
    rng,
  );
}

for (const arch of Object.keys(VIT_ARCHS) as (keyof typeof VIT_ARCHS)[]) {
  const a = VIT_ARCHS[arch];
  registerPlugin({
    kind: 'backbone',
    name: arch,
    description: `DINO ViT (embed ${a.embedDim}, depth ${a.depth}, ${a.numHeads} heads), cls-token output, bicubic pos-embed interpolation`,
    schema: vitSchema,
    create: (o, { rng }) => initFromWeights(createViT(arch, o, rng), o),
  });
}
