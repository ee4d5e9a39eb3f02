import { Module } from './module';

/**
 * An ordered list of child modules named '0', '1', ... like torch's nn.Sequential / ModuleList,
 * so nested names come out as torchvision's (`features.1.conv.0.0.weight`). It only holds the
 * children; the owner decides how to run them.
 */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];

  constructor(modules: M[] = []) {
    super();
    for (const m of modules) this.push(m);
  }

  push<T extends M>(module: T): T {
    this.addModule(String(this.items.length), module);
    this.items.push(module);
    return module;
  }

  get length(): number {
    return this.items.length;
  }

  at(index: number): M {
    const m = this.items[index];
    if (!m) throw new Error(`ModuleList: no item ${index} (length ${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
