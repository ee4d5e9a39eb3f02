import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { expect } from 'chai';
import '../../src/run/builtins';
import { loadGrid } from '../../src/experiment/grid';
import { planGrid, runGridInProcess } from '../../src/experiment/runner';
import { runGridOnQueue } from '../../src/experiment/queue';
import type { GridResults } from '../../src/experiment/results';
import { writeTinyGrid } from './tiny_grid';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'sslight.js');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms: number, every = 50): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

const quiet = (): void => {};

interface Attempt {
  event: 'start' | 'done';
  pid: number;
  stages_done?: string[];
}

const attemptsOf = (cell: string): Attempt[] =>
  fs.existsSync(path.join(cell, 'attempts.jsonl'))
    ? fs.readFileSync(path.join(cell, 'attempts.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Attempt)
    : [];

/** The cell that worker `pid` is pre-training and has checkpointed, or null (polled by the tests). */
function cellMidPretraining(out: string, cellIds: string[], pid: number | undefined): string | null {
  for (const id of cellIds) {
    const cell = path.join(out, 'cells', id);
    const mine = attemptsOf(cell).filter((a) => a.pid === pid);
    const running = mine.length > 0 && mine[mine.length - 1].event === 'start';
    if (running && fs.existsSync(path.join(cell, 'checkpoints', 'latest')) && !fs.existsSync(path.join(cell, 'progress.json'))) return cell;
  }
  return null;
}

/**
 * The grid on a real Redis with two `sslight worker` processes, one of them killed (SIGKILL) in
 * the middle of a cell's pre-training: every cell finishes exactly once, the orphaned cell on the
 * other worker from its checkpoint, and all metrics equal an in-process run of the same grid.
 */
describe('experiment: BullMQ queue on a real redis-server with two workers', function () {
  this.timeout(300000);
  let dir: string;
  let redis: ChildProcess | null = null;
  const workers: ChildProcess[] = [];
  const logs: string[] = ['', ''];
  const stop = new AbortController(); // a failed assertion must not leave the producer polling

  before(function () {
    if (spawnSync('redis-server', ['--version']).error) this.skip(); // redis-server (Debian package) is not installed
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-queue-'));
  });

  after(async () => {
    stop.abort();
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    if (redis && redis.exitCode === null) redis.kill('SIGKILL');
  });

  it('finishes every cell exactly once with the in-process metrics after a worker dies mid-cell', async () => {
    const gridFile = writeTinyGrid(dir);
    const grid = loadGrid(gridFile);
    const local = path.join(dir, 'local');
    planGrid(grid, local, false);
    // The commands of the in-process run write progress to stderr; keep the test output readable.
    const write = process.stderr.write.bind(process.stderr);
    const log = console.log;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    console.log = quiet;
    let reference: GridResults;
    try {
      reference = await runGridInProcess(grid, local, quiet);
    } finally {
      process.stderr.write = write;
      console.log = log;
    }

    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitFor('redis-server', () => canConnect(port), 10000);
    const url = `redis://127.0.0.1:${port}/sslight-test`;
    for (let i = 0; i < 2; i++) {
      const w = spawn(process.execPath, [BIN, 'worker', '--queue', url, '--lock-s', '2'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      w.stdout!.on('data', (d) => (logs[i] += d));
      w.stderr!.on('data', (d) => (logs[i] += d));
      workers.push(w);
    }

    const out = path.join(dir, 'queued');
    planGrid(grid, out, false);
    const producer = runGridOnQueue(grid, out, url, quiet, 100, 10000, stop.signal);
    let producerError: unknown = null;
    producer.catch((e) => (producerError = e));

    // Kill worker 0 once one of its cells has a checkpoint but has not finished pre-training.
    const victim = workers[0];
    let killedCell: string | null = null;
    await waitFor(
      'worker 0 in the middle of a pre-training',
      () => {
        if (producerError) throw producerError;
        killedCell = cellMidPretraining(out, grid.cells.map((c) => c.id), victim.pid);
        if (killedCell) victim.kill('SIGKILL');
        return killedCell !== null;
      },
      120000,
      20,
    );
    const results: GridResults = await producer;
    expect(killedCell, logs.join('\n')).to.be.a('string');

    expect(results.pending).to.deep.equal([]);
    for (const c of grid.cells) {
      const cell = path.join(out, 'cells', c.id);
      const attempts = attemptsOf(cell);
      expect(attempts.filter((a) => a.event === 'done'), `${c.id}: ${JSON.stringify(attempts)}`).to.have.length(1);
      const mine = results.cells.find((r) => r.id === c.id)!;
      const ref = reference.cells.find((r) => r.id === c.id)!;
      expect(mine.metrics.knn_top1, c.id).to.equal(ref.metrics.knn_top1);
      expect(mine.metrics.pretrain_loss, c.id).to.be.closeTo(ref.metrics.pretrain_loss, 1e-4);
      expect(mine.steps).to.equal(ref.steps);
    }
    // The orphaned cell was started twice and finished by the surviving worker, from a checkpoint.
    const attempts = attemptsOf(killedCell!);
    const starts = attempts.filter((a) => a.event === 'start');
    expect(starts.length).to.be.at.least(2);
    expect(starts[0].pid).to.equal(victim.pid);
    expect(attempts.find((a) => a.event === 'done')!.pid).to.equal(workers[1].pid);
    const second = starts[starts.length - 1];
    if (!second.stages_done?.includes('pretrain')) {
      const runStarts = fs
        .readFileSync(path.join(killedCell!, 'events.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"run:start"'))
        .map((l) => JSON.parse(l) as { resumedFrom: string | null });
      expect(runStarts[runStarts.length - 1].resumedFrom).to.match(/step_\d+$/);
    }

    // The surviving worker stops on SIGTERM with 143.
    const alive = workers[1];
    const exited = new Promise<number | null>((r) => alive.once('exit', (code) => r(code)));
    alive.kill('SIGTERM');
    expect(await exited, logs[1]).to.equal(143);
  });
});

/**
 * Ctrl-C on a worker in the middle of a cell's pre-training: the worker checkpoints, exits 130 and
 * hands the cell back to the head of the queue, so the next worker resumes that cell before it
 * starts any other, and the grid still finishes every cell exactly once.
 */
describe('experiment: a worker stopped by SIGINT hands its cell back to the head of the queue', function () {
  this.timeout(300000);
  let dir: string;
  let redis: ChildProcess | null = null;
  const workers: ChildProcess[] = [];
  const logs: string[] = [];
  const stop = new AbortController();

  before(function () {
    if (spawnSync('redis-server', ['--version']).error) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-queue-sigint-'));
  });

  after(() => {
    stop.abort();
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    if (redis && redis.exitCode === null) redis.kill('SIGKILL');
  });

  const startWorker = (url: string): ChildProcess => {
    const i = workers.length;
    logs.push('');
    const w = spawn(process.execPath, [BIN, 'worker', '--queue', url, '--lock-s', '2'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    w.stdout!.on('data', (d) => (logs[i] += d));
    w.stderr!.on('data', (d) => (logs[i] += d));
    workers.push(w);
    return w;
  };

  it('the next worker resumes the interrupted cell first', async () => {
    // 30 steps a cell (checkpoints every 2), so the interrupt lands in a pre-training.
    const grid = loadGrid(writeTinyGrid(dir, 'set:\n  trainer.epochs: 5\n'));
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitFor('redis-server', () => canConnect(port), 10000);
    const url = `redis://127.0.0.1:${port}/sslight-sigint`;
    const out = path.join(dir, 'queued');
    planGrid(grid, out, false);
    const first = startWorker(url);
    const producer = runGridOnQueue(grid, out, url, quiet, 100, 10000, stop.signal);
    let producerError: unknown = null;
    producer.catch((e) => (producerError = e));

    let interrupted: string | null = null;
    await waitFor(
      'the first worker in the middle of a pre-training',
      () => {
        if (producerError) throw producerError;
        interrupted = cellMidPretraining(out, grid.cells.map((c) => c.id), first.pid);
        if (interrupted) first.kill('SIGINT');
        return interrupted !== null;
      },
      120000,
      20,
    );
    const code = await new Promise<number | null>((r) => (first.exitCode !== null ? r(first.exitCode) : first.once('exit', (c) => r(c))));
    expect(code, logs[0]).to.equal(130);
    expect(attemptsOf(interrupted!).filter((a) => a.event === 'done'), logs[0]).to.have.length(0);

    const second = startWorker(url);
    let firstTaken: string | null = null;
    await waitFor(
      "the second worker's first cell",
      () => {
        if (producerError) throw producerError;
        for (const c of grid.cells) {
          const cell = path.join(out, 'cells', c.id);
          if (attemptsOf(cell).some((a) => a.pid === second.pid && a.event === 'start')) {
            firstTaken = cell;
            return true;
          }
        }
        return false;
      },
      60000,
      10,
    );
    expect(firstTaken, logs[1]).to.equal(interrupted);

    const results: GridResults = await producer;
    expect(results.pending).to.deep.equal([]);
    for (const c of grid.cells) {
      const attempts = attemptsOf(path.join(out, 'cells', c.id));
      expect(attempts.filter((a) => a.event === 'done'), `${c.id}: ${JSON.stringify(attempts)}`).to.have.length(1);
    }
    // The interrupted cell went on from the checkpoint the SIGINT wrote.
    const runStarts = fs
      .readFileSync(path.join(interrupted!, 'events.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"run:start"'))
      .map((l) => JSON.parse(l) as { resumedFrom: string | null });
    expect(runStarts.length).to.equal(2);
    expect(runStarts[1].resumedFrom).to.match(/step_\d+$/);
  });
});
