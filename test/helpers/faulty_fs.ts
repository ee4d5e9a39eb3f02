import * as fs from 'fs';
import { setWriteFs, type WriteFs } from '../../src/core/fs';

/** Thrown when a rule "kills" the process: every later write fails too, as if it had died. */
export class SimulatedKill extends Error {
  constructor(at: string) {
    super(`simulated kill at ${at}`);
  }
}

export interface FaultRule {
  op: keyof WriteFs;
  /** Path the call concerns (for writeSync/fsyncSync/ftruncateSync: the file the fd was opened on). */
  match?: RegExp;
  /** Fail the nth matching call (1-based, default 1). */
  nth?: number;
  fail: 'ENOSPC' | 'EACCES' | 'EROFS' | 'kill';
  /** For writeSync: write the first half of the data before failing (a torn write). */
  partial?: boolean;
}

function errnoError(code: string, syscall: string, p: string): NodeJS.ErrnoException {
  const text: Record<string, string> = {
    ENOSPC: 'no space left on device',
    EACCES: 'permission denied',
    EROFS: 'read-only file system',
  };
  const e = new Error(`${code}: ${text[code]}, ${syscall} '${p}'`) as NodeJS.ErrnoException;
  e.code = code;
  e.syscall = syscall;
  e.path = p;
  return e;
}

/**
 * A WriteFs that behaves like Node's until a rule fires. Install with `install()`, always
 * `restore()` (in `afterEach`). `calls` lists what was done, for choosing kill points.
 */
export class FaultyFs implements WriteFs {
  dead = false;
  readonly calls: string[] = [];
  private readonly counts = new Map<FaultRule, number>();
  private readonly fdPaths = new Map<number, string>();

  constructor(private readonly rules: FaultRule[] = []) {}

  install(): this {
    setWriteFs(this);
    return this;
  }

  restore(): void {
    setWriteFs(null);
  }

  private check(op: keyof WriteFs, p: string, torn?: () => void): void {
    if (this.dead) throw new SimulatedKill(`${op} ${p} (already dead)`);
    this.calls.push(`${op} ${p}`);
    for (const r of this.rules) {
      if (r.op !== op || (r.match && !r.match.test(p))) continue;
      const n = (this.counts.get(r) ?? 0) + 1;
      this.counts.set(r, n);
      if (n !== (r.nth ?? 1)) continue;
      if (r.partial) torn?.();
      if (r.fail === 'kill') {
        this.dead = true;
        throw new SimulatedKill(`${op} ${p}`);
      }
      throw errnoError(r.fail, op.replace(/Sync$/, ''), p);
    }
  }

  mkdirSync(p: string, o?: fs.MakeDirectoryOptions): void {
    this.check('mkdirSync', p);
    fs.mkdirSync(p, o);
  }
  openSync(p: string, flags: string): number {
    this.check('openSync', p);
    const fd = fs.openSync(p, flags);
    this.fdPaths.set(fd, p);
    return fd;
  }
  writeSync(fd: number, data: Uint8Array): number {
    this.check('writeSync', this.fdPaths.get(fd) ?? `fd ${fd}`, () => fs.writeSync(fd, data.subarray(0, data.length >> 1)));
    return fs.writeSync(fd, data);
  }
  fsyncSync(fd: number): void {
    this.check('fsyncSync', this.fdPaths.get(fd) ?? `fd ${fd}`);
    fs.fsyncSync(fd);
  }
  ftruncateSync(fd: number, len: number): void {
    this.check('ftruncateSync', this.fdPaths.get(fd) ?? `fd ${fd}`);
    fs.ftruncateSync(fd, len);
  }
  closeSync(fd: number): void {
    // Closing is what the kernel does for a dead process too: never fail it, never leak the fd.
    this.fdPaths.delete(fd);
    fs.closeSync(fd);
  }
  renameSync(a: string, b: string): void {
    this.check('renameSync', `${a} -> ${b}`);
    fs.renameSync(a, b);
  }
  rmSync(p: string, o?: fs.RmOptions): void {
    this.check('rmSync', p);
    fs.rmSync(p, o);
  }
}
