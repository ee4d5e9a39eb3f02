import '../run/builtins';
import { loadPluginModule } from '../core/plugin_loader';

/** Built-ins are registered by importing this file; `--plugin` modules are loaded here. */
export function loadPlugins(specs: string[] | undefined): void {
  for (const spec of specs ?? []) loadPluginModule(spec);
}
