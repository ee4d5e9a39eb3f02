// Importing registers every built-in plugin (one registration per plugin file).
import '../../plugins/backbones';
import '../../plugins/methods';
import '../../plugins/optimizers';
import '../../plugins/views';
import '../../plugins/callbacks';
import '../../data/datasets';
