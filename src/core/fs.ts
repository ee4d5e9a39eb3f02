import * as fs from 'fs';

/**
 * The file-system calls through which a run writes its outputs (checkpoints, events.jsonl,
 * config.yaml). They go through this one replaceable object so tests can make chosen writes fail
 * (disk full, permissions) or "kill" the process at a chosen point, without patching Node.
 * Reads use `fs` directly.
 */
export interface WriteFs {
  mkdirSync(path: string, options?: fs.MakeDirectoryOptions): void;
  openSync(path: string, flags: string): number;
  writeSync(fd: number, data: Uint8Array): number;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, len: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  rmSync(path: string, options?: fs.RmOptions): void;
}

const nodeFs: WriteFs = {
  mkdirSync: (p, o) => void fs.mkdirSync(p, o),
  openSync: (p, f) => fs.openSync(p, f),
  writeSync: (fd, d) => fs.writeSync(fd, d),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  ftruncateSync: (fd, n) => fs.ftruncateSync(fd, n),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (a, b) => fs.renameSync(a, b),
  rmSync: (p, o) => fs.rmSync(p, o),
};

let current: WriteFs = nodeFs;

/** The layer in use. */
export function wfs(): WriteFs {
  return current;
}

/** Replace the layer (tests); `null` restores Node's. */
export function setWriteFs(layer: WriteFs | null): void {
  current = layer ?? nodeFs;
}

/** Write all of `data` (writeSync may write less than asked) to an open file. */
export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += current.writeSync(fd, off === 0 ? data : data.subarray(off));
}

/** Create or replace `file` with `data`, flushed to disk before returning. */
export function writeFileSynced(file: string, data: Uint8Array): void {
  const fd = current.openSync(file, 'w');
  try {
    writeAll(fd, data);
    current.fsyncSync(fd);
  } finally {
    current.closeSync(fd);
  }
}

/** Write to a temp file beside the target, then rename over it (atomic on POSIX). */
export function atomicWrite(file: string, data: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSynced(tmp, data);
    current.renameSync(tmp, file);
  } catch (e) {
    try {
      current.rmSync(tmp, { force: true });
    } catch {
      /* the original error is the one to report */
    }
    throw e;
  }
}
