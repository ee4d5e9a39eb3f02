import * as fs from 'fs';
import * as path from 'path';
import type { EventBus } from './events';
import type { RawImage } from './interfaces';
import { encodePng } from './png';

export interface PublishImageOptions {
  /** The run directory; the PNG goes to `<runDir>/images/<tag>_<step>.png`. */
  runDir: string;
  /** Name of the picture (`views_montage`, `detections/val_0`); `/` groups it in TensorBoard. */
  tag: string;
  step: number;
  /** RGB pixels, or an already encoded PNG with its size. */
  image: RawImage | { png: Uint8Array; width: number; height: number };
}

/**
 * Publish a picture to the run's writers from any code (a method, the detector, a CLI): writes
 * the PNG under the run directory and emits an `image` event naming it, which the TensorBoard
 * callback turns into an image summary and events.jsonl records. Returns the file's path.
 */
export function publishImage(events: EventBus, o: PublishImageOptions): string {
  const png = 'png' in o.image ? o.image.png : encodePng(o.image);
  const dir = path.join(o.runDir, 'images');
  const file = path.join(dir, `${o.tag.replace(/[^A-Za-z0-9_.-]+/g, '_')}_${o.step}.png`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, png);
  events.emit({ type: 'image', step: o.step, tag: o.tag, path: file, width: o.image.width, height: o.image.height });
  return file;
}
