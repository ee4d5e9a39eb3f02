/**
 * Writes a tfjs LayersModel (`model.json` + one weights file) from a plain description of an
 * inference graph, with no dependency on tfjs-layers: the topology is the Keras functional-model
 * JSON that `tf.loadLayersModel` reads, and weights are named `<layer>/<kernel|bias|...>` as
 * tfjs-layers names its variables. Tensors are NHWC; kernels HWIO, depth-wise [kh, kw, C, 1].
 */
export interface TfjsArtifacts {
  modelJson: Record<string, unknown>;
  weights: Uint8Array;
}

interface LayerSpec {
  class_name: string;
  config: Record<string, unknown>;
  name: string;
  inbound_nodes: unknown[];
}

export interface ConvSpec {
  /** HWIO [k, k, in, out], or [k, k, C, 1] when depthwise. */
  kernel: Float32Array;
  kernelShape: [number, number, number, number];
  bias: Float32Array;
  stride: number;
  /** Torch-style symmetric zero padding. */
  padding: number;
  depthwise: boolean;
}

export class LayersGraph {
  private readonly layers: LayerSpec[] = [];
  private readonly weightSpecs: Array<{ name: string; shape: number[]; dtype: 'float32' }> = [];
  private readonly weightData: Float32Array[] = [];
  private readonly names = new Set<string>();
  readonly input: string;

  constructor(readonly modelName: string, channels = 3) {
    this.input = this.add('InputLayer', 'input', { batch_input_shape: [null, null, null, channels], dtype: 'float32', sparse: false }, []);
  }

  /**
   * A convolution with bias. tfjs's 'same' pads like torch only at stride 1 (at stride 2 it puts
   * the extra row at the bottom/right), so other paddings become ZeroPadding2D + 'valid'.
   */
  conv(x: string, name: string, c: ConvSpec): string {
    const k = c.kernelShape[0];
    let pad: 'valid' | 'same' = 'valid';
    if (c.padding > 0) {
      if (c.stride === 1 && 2 * c.padding === k - 1) pad = 'same';
      else x = this.zeroPad(x, `${name}_pad`, c.padding);
    }
    // Zeros initialisers: the loader builds every variable before it assigns the stored weights,
    // and random (glorot) initialisation of a ResNet's kernels would cost seconds for nothing.
    const zeros = { class_name: 'Zeros', config: {} };
    const common = {
      kernel_size: [k, k], strides: [c.stride, c.stride], padding: pad, data_format: 'channels_last', dilation_rate: [1, 1],
      activation: 'linear', use_bias: true, bias_initializer: zeros,
    };
    if (c.depthwise) {
      const out = this.add('DepthwiseConv2D', name, { ...common, depth_multiplier: 1, depthwise_initializer: zeros }, [x]);
      this.weight(`${name}/depthwise_kernel`, c.kernelShape, c.kernel);
      this.weight(`${name}/bias`, [c.bias.length], c.bias);
      return out;
    }
    const out = this.add('Conv2D', name, { ...common, filters: c.kernelShape[3], kernel_initializer: zeros }, [x]);
    this.weight(`${name}/kernel`, c.kernelShape, c.kernel);
    this.weight(`${name}/bias`, [c.bias.length], c.bias);
    return out;
  }

  zeroPad(x: string, name: string, p: number): string {
    return this.add('ZeroPadding2D', name, { padding: [[p, p], [p, p]], data_format: 'channels_last' }, [x]);
  }

  activation(x: string, name: string, fn: 'relu' | 'relu6'): string {
    return this.add('Activation', name, { activation: fn }, [x]);
  }

  sum(a: string, b: string, name: string): string {
    return this.add('Add', name, {}, [a, b]);
  }

  maxPool(x: string, name: string, k: number, s: number): string {
    return this.add('MaxPooling2D', name, { pool_size: [k, k], strides: [s, s], padding: 'valid', data_format: 'channels_last' }, [x]);
  }

  globalAvgPool(x: string, name: string): string {
    return this.add('GlobalAveragePooling2D', name, { data_format: 'channels_last' }, [x]);
  }

  /** model.json (weights in `weightsPath`, relative to it) and the weight bytes. */
  artifacts(output: string, weightsPath: string): TfjsArtifacts {
    const total = this.weightData.reduce((n, d) => n + d.length, 0);
    const all = new Float32Array(total);
    let at = 0;
    for (const d of this.weightData) {
      all.set(d, at);
      at += d.length;
    }
    return {
      modelJson: {
        format: 'layers-model',
        generatedBy: 'sslight export',
        convertedBy: null,
        modelTopology: {
          class_name: 'Model',
          config: { name: this.modelName, layers: this.layers, input_layers: [[this.input, 0, 0]], output_layers: [[output, 0, 0]] },
          keras_version: 'tfjs-layers 4.22.0',
          backend: 'tensor_flow.js',
        },
        weightsManifest: [{ paths: [weightsPath], weights: this.weightSpecs }],
      },
      weights: new Uint8Array(all.buffer),
    };
  }

  private add(cls: string, name: string, config: Record<string, unknown>, inputs: string[]): string {
    if (this.names.has(name)) throw new Error(`tfjs export: layer name '${name}' used twice`);
    this.names.add(name);
    this.layers.push({
      class_name: cls,
      config: { name, trainable: false, ...config },
      name,
      inbound_nodes: inputs.length ? [inputs.map((i) => [i, 0, 0, {}])] : [],
    });
    return name;
  }

  private weight(name: string, shape: number[], data: Float32Array): void {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`tfjs export: '${name}' has ${data.length} values for shape [${shape}]`);
    this.weightSpecs.push({ name, shape, dtype: 'float32' });
    this.weightData.push(data);
  }
}
