import { main } from '../../src/cli/main';

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
