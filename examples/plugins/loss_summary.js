'use strict';
// A callback plugin: keeps the lowest loss and its step, prints them at the end of the run and
// writes <run>/loss_summary.json. Its state is saved in checkpoints, so a resumed run goes on
// from it. Load with --plugin ./examples/plugins/loss_summary.js and enable it in the config:
//   callbacks: {loss_summary: {}}
const fs = require('fs');
const path = require('path');
const { z, registerPlugin, ofType } = require('sslight');

class LossSummary {
  constructor(o) {
    this.name = 'loss_summary';
    this.o = o;
    this.best = { loss: Infinity, step: -1 };
  }

  /** Observers subscribe to the typed event stream; ofType narrows it to one event type. */
  attach(events$) {
    return events$.pipe(ofType('step:end')).subscribe((e) => {
      if (e.losses.loss < this.best.loss) this.best = { loss: e.losses.loss, step: e.step };
    });
  }

  /** An awaited hook: the loop waits for it, so the file exists when the run returns. */
  afterTrain(run) {
    const line = `lowest loss ${this.best.loss.toFixed(this.o.digits)} at step ${this.best.step}`;
    console.log(line);
    if (run.runDir) fs.writeFileSync(path.join(run.runDir, 'loss_summary.json'), JSON.stringify(this.best) + '\n');
  }

  // Checkpointed state (plain JSON): a resumed run keeps the best loss of its first part.
  jsonState() {
    return { best_loss: this.best.loss, best_step: this.best.step };
  }

  loadJsonState(s) {
    this.best = { loss: s.best_loss ?? Infinity, step: s.best_step ?? -1 };
  }
}

registerPlugin({
  kind: 'callback',
  name: 'loss_summary',
  schema: z.object({ digits: z.number().int().min(0).max(10).default(4) }).strict(),
  create: (options) => new LossSummary(options),
});

module.exports = { LossSummary };
