import type { CommandModule } from 'yargs';
import { probeBackends, selectBackend } from '../core/backend';
import { registry, PLUGIN_KINDS } from '../core/registry';
import { loadPlugins } from './common';

interface Args {
  backend?: string;
  plugin?: string[];
}

/** `sslight info`: which backends load here (and why others do not), and the registered plugins. */
export const infoCommand: CommandModule<object, Args> = {
  command: 'info',
  describe: 'show backends that load here (and why others do not) and the registered plugins',
  builder: (y) =>
    y
      .option('backend', { type: 'string', describe: 'backend to select (default: best available)' })
      .option('plugin', { type: 'string', array: true, describe: 'extra plugin module(s) to load' }) as never,
  handler: async (args) => {
    loadPlugins(args.plugin);
    const probes = await probeBackends();
    console.log('backends (in order of preference):');
    for (const p of probes) console.log(`  ${p.available ? 'yes' : 'no '} ${p.name.padEnd(16)} ${p.detail}`);
    const choice = await selectBackend(args.backend);
    console.log(`selected: ${choice.name} (${choice.reason})`);
    console.log('plugins:');
    for (const kind of PLUGIN_KINDS) console.log(`  ${kind.padEnd(10)} ${registry.names(kind).join(', ')}`);
  },
};
