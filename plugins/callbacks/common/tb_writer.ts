import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tfRecord } from './tfrecord';
import { fileVersionEvent, summaryEvent, type SummaryValue } from './tf_event';

/**
 * Appends TensorBoard events to `<dir>/events.out.tfevents.<secs>.<host>.<pid>.<n>` (the name
 * TensorBoard globs for). Every record is written synchronously, so the file is readable up to
 * the last step even if the process dies; a resumed run starts a new file in the same folder,
 * which TensorBoard reads as one run.
 */
export class TensorBoardWriter {
  readonly file: string;
  private fd: number | null;
  private static counter = 0;

  constructor(dir: string, wallTime = Date.now() / 1000) {
    fs.mkdirSync(dir, { recursive: true });
    const name = `events.out.tfevents.${Math.floor(wallTime)}.${os.hostname()}.${process.pid}.${TensorBoardWriter.counter++}`;
    this.file = path.join(dir, name);
    this.fd = fs.openSync(this.file, 'a');
    this.write(fileVersionEvent(wallTime));
  }

  addScalars(step: number, scalars: Array<{ tag: string; value: number }>, wallTime = Date.now() / 1000): void {
    const values: SummaryValue[] = scalars.map((s) => ({ tag: s.tag, simpleValue: s.value }));
    if (values.length) this.write(summaryEvent(wallTime, step, values));
  }

  /** A PNG as an image summary (colorspace 3 = RGB). */
  addImage(tag: string, step: number, png: Uint8Array, width: number, height: number, wallTime = Date.now() / 1000): void {
    this.write(summaryEvent(wallTime, step, [{ tag, image: { height, width, colorspace: 3, png } }]));
  }

  close(): void {
    if (this.fd === null) return;
    fs.closeSync(this.fd);
    this.fd = null;
  }

  private write(event: Buffer): void {
    if (this.fd === null) throw new Error(`TensorBoard event file ${this.file} is closed`);
    fs.writeSync(this.fd, tfRecord(event));
  }
}
