import { SslightError } from '../../src/core/errors';

/**
 * A COCO file or result list does not have the shape the COCO API needs. `where` names the record
 * (e.g. `results[12]` or `annotations[3] (id 907)`) so the user can find and fix it.
 */
export class CocoFormatError extends SslightError {
  constructor(readonly where: string, detail: string) {
    super(`${where}: ${detail}`);
  }
}

/** A mask operation got inputs it cannot work on (mismatched sizes, overrunning runs). */
export class MaskError extends SslightError {}

/** Describes a record for error messages: `annotations[3] (id 907)`. */
export function recordName(list: string, index: number, rec: unknown): string {
  const id = rec !== null && typeof rec === 'object' ? (rec as { id?: unknown }).id : undefined;
  return id === undefined ? `${list}[${index}]` : `${list}[${index}] (id ${String(id)})`;
}
