import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { main } from '../../src/cli/main';
import { repoRoot } from './reference';

export interface CliOut {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `sslight <args>` in-process, capturing console.log and stderr, and return the exit code. */
export async function runCli(args: string[]): Promise<CliOut> {
  const log = console.log;
  const write = process.stderr.write.bind(process.stderr);
  let stdout = '';
  let stderr = '';
  console.log = (...a: unknown[]) => {
    stdout += a.join(' ') + '\n';
  };
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  process.exitCode = 0;
  try {
    await main(args);
  } finally {
    console.log = log;
    process.stderr.write = write;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, stdout, stderr };
}

/**
 * Spawn `bin/sslight.js <args>` as a real process, send it `signal` once `<out>/events.jsonl`
 * holds a finished step, and return its exit code and stderr.
 */
export async function signalAfterFirstStep(args: string[], out: string, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'sslight.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setInterval(() => {
      const f = path.join(out, 'events.jsonl');
      if (fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('"step:end"')) {
        clearInterval(timer);
        child.kill(signal);
      }
    }, 100);
    child.on('exit', (c) => {
      clearInterval(timer);
      resolve(c);
    });
  });
  return { code, stderr };
}
