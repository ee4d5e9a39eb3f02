import type { CommandModule } from 'yargs';
import { probeBackends, selectBackend } from '../core/backend';
import { registry, PLUGIN_KINDS } from '../core/registry';
import { loadPlugins } from './common';
import { printBackboneTable } from './backbone_info';

interface Args {
  backend?: string;
  plugin?: string[];
  backbones?: boolean;
  config?: string;
  set?: string[];
  only?: string[];
}

/** `sslight info`: which backends load here (and why others do not), and the registered plugins. */
export const infoCommand: CommandModule<object, Args> = {
  command: 'info',
  describe: 'show backends that load here (and why others do not) and the registered plugins',
  builder: (y) =>
    y
      .option('backend', { type: 'string', describe: 'backend to select (default: best available)' })
      .option('plugin', { type: 'string', array: true, describe: 'extra plugin module(s) to load' })
      .option('backbones', { type: 'boolean', describe: 'table of the backbones: parameters, feature dim, MACs at 224 (and at --config\'s crop sizes)' })
      .option('config', { type: 'string', describe: 'with --backbones: also MACs at this config\'s crop sizes, and its backbone' })
      .option('set', { type: 'string', array: true, describe: 'with --config: override a config key' })
      .option('only', { type: 'string', array: true, describe: 'with --backbones: only these backbone plugins' }) as never,
  handler: async (args) => {
    loadPlugins(args.plugin);
    if (args.backbones) return printBackboneTable(args);
    const probes = await probeBackends();
    console.log('backends (in order of preference):');
    for (const p of probes) console.log(`  ${p.available ? 'yes' : 'no '} ${p.name.padEnd(16)} ${p.detail}`);
    const choice = await selectBackend(args.backend);
    console.log(`selected: ${choice.name} (${choice.reason})`);
    console.log('plugins:');
    for (const kind of PLUGIN_KINDS) console.log(`  ${kind.padEnd(10)} ${registry.names(kind).join(', ')}`);
  },
};
