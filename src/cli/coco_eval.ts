import { progress, type ProgressReporter } from '../core/progress';
import type { CommandModule } from 'yargs';

/**
 * `sslight coco-eval`: listed here for `--help`; main.ts hands the raw flags to the COCO module,
 * which parses them itself (it has no dependency on the rest of sslight).
 */
export const cocoEvalCommand: CommandModule = {
  command: 'coco-eval',
  describe:
    'evaluate COCO results exactly as pycocotools: --gt GT.json --dt RESULTS.json --iou-type bbox|segm ' +
    '[--use-cats 0|1] [--max-dets 1,10,100] [--img-ids ..] [--cat-ids ..] [--json OUT.json]',
  handler: () => undefined,
};

/** Terminal progress of the matching phase of a COCO evaluation (see src/core/progress.ts). */
export function cocoEvalProgress(): (done: number, total: number) => void {
  let bar: ProgressReporter | null = null;
  return (done, total) => {
    bar ??= progress('coco-eval matching', total, { unit: 'cells' });
    bar.update(done);
    if (done >= total) bar.done();
  };
}
