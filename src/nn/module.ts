import * as tf from '@tensorflow/tfjs-core';

/**
 * What kind of parameter a variable is. Optimizers use it for the rules the paper and the
 * official code apply per parameter (no weight decay / no LARS adaptation for biases and norm
 * affine parameters, special handling of depth-wise convolution weights).
 */
export type ParamKind = 'weight' | 'depthwise' | 'bias' | 'norm';

/**
 * How a parameter maps to PyTorch's layout in a state dict. Ours are NHWC/HWIO (tfjs); PyTorch's
 * are OIHW for conv and [out, in] for linear. Checkpoints store PyTorch layout and names.
 */
export type TorchLayout = 'same' | 'conv' | 'depthwise' | 'linear';

export interface Parameter {
  /** Dotted PyTorch-style name relative to the module that owns it, e.g. `features.0.0.weight`. */
  name: string;
  variable: tf.Variable;
  kind: ParamKind;
  layout: TorchLayout;
  /** False for frozen parameters (e.g. DINO's weight_g). They are saved but get no gradient. */
  trainable: boolean;
}

export interface Buffer {
  name: string;
  /** Buffers are replaced, not mutated, so they are held as variables and `assign`ed. */
  variable: tf.Variable;
  layout: TorchLayout;
}

/**
 * A small PyTorch-like module: named parameters, buffers and children, train/eval mode, and a
 * state dict with PyTorch names. Subclasses create parameters in their constructor with
 * `addParam` and children with `addModule`, then implement their own forward method.
 */
export abstract class Module {
  private readonly ownParams = new Map<string, Parameter>();
  private readonly ownBuffers = new Map<string, Buffer>();
  private readonly children = new Map<string, Module>();
  training = true;

  protected addParam(
    name: string,
    value: tf.Tensor,
    kind: ParamKind,
    layout: TorchLayout = 'same',
    trainable = true,
  ): tf.Variable {
    if (this.ownParams.has(name)) throw new Error(`parameter '${name}' registered twice`);
    const variable = tf.variable(value, trainable);
    value.dispose();
    this.ownParams.set(name, { name, variable, kind, layout, trainable });
    return variable;
  }

  protected addBuffer(name: string, value: tf.Tensor, layout: TorchLayout = 'same'): tf.Variable {
    if (this.ownBuffers.has(name)) throw new Error(`buffer '${name}' registered twice`);
    const variable = tf.variable(value, false);
    value.dispose();
    this.ownBuffers.set(name, { name, variable, layout });
    return variable;
  }

  protected addModule<M extends Module>(name: string, module: M): M {
    if (this.children.has(name)) throw new Error(`submodule '${name}' registered twice`);
    this.children.set(name, module);
    return module;
  }

  /** All parameters, depth-first in registration order, with full dotted names. */
  namedParameters(prefix = ''): Parameter[] {
    const out: Parameter[] = [];
    for (const p of this.ownParams.values()) out.push({ ...p, name: prefix + p.name });
    for (const [cname, child] of this.children) out.push(...child.namedParameters(`${prefix}${cname}.`));
    return out;
  }

  namedBuffers(prefix = ''): Buffer[] {
    const out: Buffer[] = [];
    for (const b of this.ownBuffers.values()) out.push({ ...b, name: prefix + b.name });
    for (const [cname, child] of this.children) out.push(...child.namedBuffers(`${prefix}${cname}.`));
    return out;
  }

  trainableVariables(): tf.Variable[] {
    return this.namedParameters()
      .filter((p) => p.trainable)
      .map((p) => p.variable);
  }

  /** Number of scalar parameters (frozen ones included, as PyTorch counts them). */
  numParameters(): number {
    return this.namedParameters().reduce((n, p) => n + p.variable.size, 0);
  }

  /** This module and every descendant, depth-first in registration order (torch's `modules()`). */
  modules(): Module[] {
    const out: Module[] = [this];
    for (const child of this.children.values()) out.push(...child.modules());
    return out;
  }

  /**
   * Marks every parameter of this module and its descendants trainable or frozen (torch's
   * `requires_grad_`): frozen ones get no gradient and are left out of `trainableVariables`.
   */
  setTrainable(trainable: boolean): this {
    for (const m of this.modules()) {
      for (const [name, p] of m.ownParams) {
        p.variable.trainable = trainable;
        m.ownParams.set(name, { ...p, trainable });
      }
    }
    return this;
  }

  train(mode = true): this {
    this.training = mode;
    for (const child of this.children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Parameters then buffers, by name, in our (tfjs) layout. Tensors are the live variables. */
  stateTensors(prefix = ''): Map<string, { tensor: tf.Variable; layout: TorchLayout }> {
    const m = new Map<string, { tensor: tf.Variable; layout: TorchLayout }>();
    for (const p of this.namedParameters(prefix)) m.set(p.name, { tensor: p.variable, layout: p.layout });
    for (const b of this.namedBuffers(prefix)) m.set(b.name, { tensor: b.variable, layout: b.layout });
    return m;
  }

  /** Copy every parameter and buffer from a module of the same architecture. */
  copyFrom(other: Module): void {
    const src = other.stateTensors();
    for (const [name, { tensor }] of this.stateTensors()) {
      const s = src.get(name);
      if (!s) throw new Error(`copyFrom: source has no '${name}'`);
      tensor.assign(s.tensor);
    }
  }

  dispose(): void {
    for (const p of this.ownParams.values()) p.variable.dispose();
    for (const b of this.ownBuffers.values()) b.variable.dispose();
    for (const child of this.children.values()) child.dispose();
  }
}
