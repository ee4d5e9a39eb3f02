import { createHash } from 'crypto';
import type { Grid } from './grid';
import { cellDir, readCellResult, runCell, workerName, type CellResult } from './cell';
import { writeResults, type GridResults } from './results';
import { SslightError } from '../core/errors';

// Cells on a BullMQ queue (Redis): `sslight experiment --queue URL` adds one job per unfinished
// cell and waits for them; `sslight worker --queue URL` takes jobs one at a time. Jobs carry only
// the grid's output directory and the cell id: the cell's spec, checkpoints and results live in
// that directory, which every worker must see (shared storage). A worker that dies stops renewing
// its job's lock; BullMQ's stalled-job check on another worker puts the job back, and the next
// attempt resumes the cell from its checkpoint. bullmq is required lazily: nothing else needs it.

type BullMQ = typeof import('bullmq');

function bullmq(): BullMQ {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('bullmq') as BullMQ;
}

export class QueueUrlError extends SslightError {
  readonly exitCode = 2;
}

export interface QueueTarget {
  host: string;
  port: number;
  name: string;
}

/** `redis://HOST:PORT[/name]` (name defaults to `sslight`). */
export function parseQueueUrl(url: string): QueueTarget {
  const m = /^redis:\/\/([^:/]+)(?::(\d+))?(?:\/([\w.-]*))?\/?$/.exec(url);
  if (!m) throw new QueueUrlError(`--queue ${url}: expected redis://HOST:PORT[/name] (name: letters, digits, _ . -)`);
  const port = m[2] ? Number(m[2]) : 6379;
  if (!(port > 0 && port < 65536)) throw new QueueUrlError(`--queue ${url}: port ${m[2]} is out of range`);
  return { host: m[1], port, name: m[3] || 'sslight' };
}

export interface CellJob {
  outDir: string;
  cellId: string;
}

/** One job id per (output directory, cell): adding it again while it exists is a no-op. */
export function jobIdOf(outDir: string, cellId: string): string {
  const h = createHash('sha1').update(outDir).digest('hex').slice(0, 10);
  return `${h}.${cellId}`.replace(/:/g, '_');
}

const connectionOf = (t: QueueTarget) => ({ host: t.host, port: t.port, maxRetriesPerRequest: null });

/**
 * Put the grid's unfinished cells on the queue and wait until every one has completed or failed,
 * rewriting results after each. Failed cells are an error listing them (after the others finish).
 * `signal` stops the waiting (the cells stay on the queue) and closes the connection.
 */
export async function runGridOnQueue(
  grid: Grid,
  outDir: string,
  url: string,
  log: (msg: string) => void,
  pollMs = 1000,
  connectTimeoutMs = 10000,
  signal?: AbortSignal,
): Promise<GridResults> {
  const target = parseQueueUrl(url);
  const { Queue } = bullmq();
  const queue = new Queue<CellJob, CellResult>(target.name, { connection: connectionOf(target) });
  try {
    // ioredis retries forever; a grid whose Redis is not there should say so instead of hanging.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      queue.waitUntilReady(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new QueueUrlError(`cannot reach Redis at ${url} (is redis-server running there?)`)), connectTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    const ids = new Map<string, string>();
    for (const c of grid.cells) {
      if (readCellResult(cellDir(outDir, c.id))) continue;
      const jobId = jobIdOf(outDir, c.id);
      ids.set(c.id, jobId);
      const old = await queue.getJob(jobId);
      const state = old ? await old.getState() : null;
      if (old && state === 'failed') await old.retry('failed');
      else if (old && state === 'completed') await old.remove(); // its result.json was lost: run it again
      if (!old || state === 'completed') {
        await queue.add('cell', { outDir, cellId: c.id }, { jobId, attempts: 1, removeOnComplete: false, removeOnFail: false });
      }
    }
    log(`queued ${ids.size} cell(s) on ${url} (queue '${target.name}'); ${grid.cells.length - ids.size} done already`);
    const failed = new Map<string, string>();
    const finished = new Set<string>();
    while (finished.size < ids.size) {
      for (const [cellId, jobId] of ids) {
        if (finished.has(cellId)) continue;
        const job = await queue.getJob(jobId);
        const state = job ? await job.getState() : 'missing';
        if (state === 'completed') {
          finished.add(cellId);
          log(`cell ${cellId}: done (${job?.returnvalue?.finished_by ?? '?'})`);
          writeResults(outDir, grid);
        } else if (state === 'failed' || state === 'missing') {
          finished.add(cellId);
          failed.set(cellId, job?.failedReason ?? 'the job disappeared from the queue');
          log(`cell ${cellId}: FAILED: ${failed.get(cellId)}`);
        }
      }
      if (signal?.aborted) throw new SslightError('stopped waiting for the queued cells (aborted)');
      if (finished.size < ids.size) await new Promise((r) => setTimeout(r, pollMs));
    }
    const results = writeResults(outDir, grid);
    if (failed.size) {
      throw new SslightError(`${failed.size} cell(s) failed: ${[...failed].map(([id, why]) => `${id} (${why})`).join('; ')}`);
    }
    return results;
  } finally {
    await queue.close();
  }
}

export interface WorkerOptions {
  /** A cell whose worker stops renewing its lock for this long is given to another worker. */
  lockMs: number;
  log: (msg: string) => void;
}

export interface RunningWorker {
  /** Stop taking jobs; waits for the current cell unless `force`. */
  close(force?: boolean): Promise<void>;
}

/** Take cells from the queue one at a time until closed. */
export function startWorker(url: string, opts: WorkerOptions): RunningWorker {
  const target = parseQueueUrl(url);
  const { Worker, WaitingError } = bullmq();
  const worker = new Worker<CellJob, CellResult>(
    target.name,
    async (job, token) => {
      const { outDir, cellId } = job.data;
      opts.log(`worker ${workerName()}: cell ${cellId} of ${outDir} (attempt ${job.attemptsStarted})`);
      try {
        return await runCell(cellDir(outDir, cellId), opts.log);
      } catch (err) {
        // Ctrl-C during pre-training saved a checkpoint: hand the cell back instead of failing it,
        // at the head of the queue, so that the next free worker resumes it before starting a
        // new cell (a delayed job would go to the back, leaving half-done cells for last).
        if ((err as { exitCode?: number }).exitCode === 130 && token) {
          await job.moveToWait(token);
          throw new WaitingError();
        }
        throw err;
      }
    },
    {
      connection: connectionOf(target),
      concurrency: 1,
      lockDuration: opts.lockMs,
      stalledInterval: Math.max(500, Math.floor(opts.lockMs / 2)),
      // A cell may be orphaned by several dead workers before one finishes it.
      maxStalledCount: 10,
    },
  );
  worker.on('failed', (job, err) => opts.log(`worker: cell ${job?.data.cellId ?? '?'} failed: ${err.message}`));
  worker.on('error', (err) => opts.log(`worker: ${err.message}`));
  return { close: (force = false) => worker.close(force) };
}
