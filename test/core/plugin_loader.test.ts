import * as path from 'path';
import { expect } from 'chai';
import { loadPluginModule } from '../../src/core/plugin_loader';
import { registry } from '../../src/core/registry';
import { resolveConfig } from '../../src/core/config';
import { SslightError } from '../../src/core/errors';
import { EventBus } from '../../src/core/events';

describe('core/plugin_loader (--plugin)', () => {
  it('loads an external module that registers a callback, usable from a config', () => {
    const file = path.join(__dirname, '..', 'fixtures', 'plugins', 'echo_plugin.js');
    loadPluginModule(file);
    expect(registry.has('callback', 'echo-fixture')).to.equal(true);
    const def = registry.get('callback', 'echo-fixture');
    const cb = def.create(def.schema.parse({ prefix: 'p' }), {});
    const seen: string[] = [];
    (globalThis as { __echo?: string[] }).__echo = seen;
    const bus = new EventBus();
    cb.attach?.(bus.events$, { runDir: null, events: bus, config: {}, step: () => 0, saveCheckpoint: async () => null });
    bus.emit({ type: 'log', message: 'hi' });
    expect(seen).to.deep.equal(['p:log']);
    delete (globalThis as { __echo?: string[] }).__echo;
  });

  it('names the module when it cannot be loaded', () => {
    expect(() => loadPluginModule('./does-not-exist.js')).to.throw(SslightError, /--plugin \.\/does-not-exist\.js: cannot load/);
  });

  it('rejects unknown plugin names in a config with the key path and the known names', () => {
    expect(() =>
      resolveConfig({
        data: { name: 'nope' },
      }),
    ).to.throw(/config key 'data.name': no dataset plugin 'nope'/);
  });
});
