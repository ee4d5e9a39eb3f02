import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { CheckpointStore, readCheckpoint } from '../src/core/checkpoint';
import { Rng } from '../src/core/rng';

/**
 * Soak test of resumption (not run in CI): trains a tiny DINO run, kills it at random points
 * (SIGKILL, and now and then SIGTERM) N times, resumes it after each kill, and checks every resume:
 * the checkpoint `latest` names reads back sound, the resumed process starts, events.jsonl holds
 * only whole lines, and at the end every step was logged exactly once with the losses of an
 * uninterrupted run (1e-5).
 *
 *   node dist/bench/soak.js [--kills 20] [--seed 1] [--keep-dir]
 */

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'sslight.js');

const CONFIG = `
data: {name: generated, num_images: 48, image_size: 32}
views: {name: sslight, global_crop_size: 16, local_crop_size: 8, n_local: 2}
method: {name: dino, out_dim: 32, hidden_dim: 16, bottleneck_dim: 8, warmup_teacher_temp_epochs: 1}
backbone: {name: mobilenetv2, width: 0.25}
optimizer: {name: lars, lr: 0.3, warmup_epochs: 1}
trainer: {epochs: 8, batch_size: 8, seed: 5}
callbacks:
  jsonl: {}
  checkpoint: {every_steps: 1, keep: 2}
`;

interface Args {
  kills: number;
  seed: number;
  keepDir: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { kills: 20, seed: 1, keepDir: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--kills') a.kills = Number(argv[++i]);
    else if (argv[i] === '--seed') a.seed = Number(argv[++i]);
    else if (argv[i] === '--keep-dir') a.keepDir = true;
    else throw new Error(`soak: unknown argument ${argv[i]}`);
  }
  if (!(Number.isInteger(a.kills) && a.kills > 0)) throw new Error('soak: --kills must be a positive integer');
  return a;
}

type Ev = Record<string, unknown> & { type: string };

/** Whole lines only: a line that does not parse is a failure (a resume must have repaired it). */
function readEvents(file: string): { events: Ev[]; partialTail: boolean } {
  if (!fs.existsSync(file)) return { events: [], partialTail: false };
  const text = fs.readFileSync(file, 'utf8');
  const partialTail = text.length > 0 && !text.endsWith('\n');
  const lines = text.split('\n').slice(0, partialTail ? -1 : undefined).filter((l) => l);
  return { events: lines.map((l) => JSON.parse(l) as Ev), partialTail };
}

function stepEnds(file: string): number {
  return readEvents(file).events.filter((e) => e.type === 'step:end').length;
}

interface Proc {
  exit: Promise<number | null>;
  kill(sig: NodeJS.Signals): void;
  stderr(): string;
}

function start(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
  return { exit, kill: (s) => child.kill(s), stderr: () => err };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rng = new Rng(args.seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-soak-'));
  const config = path.join(dir, 'soak.yaml');
  fs.writeFileSync(config, CONFIG);
  const common = ['--backend', 'wasm'];

  // The reference: one uninterrupted run.
  const refDir = path.join(dir, 'reference');
  const t0 = Date.now();
  const ref = start(['pretrain', '--config', config, '--out', refDir, ...common]);
  if ((await ref.exit) !== 0) throw new Error(`soak: the reference run failed:\n${ref.stderr()}`);
  const refLoss = new Map<number, number>();
  for (const e of readEvents(path.join(refDir, 'events.jsonl')).events) {
    if (e.type === 'step:end') refLoss.set(e.step as number, (e.losses as { loss: number }).loss);
  }
  const totalSteps = refLoss.size;
  const msPerRun = Date.now() - t0;
  console.log(`soak: reference run ${totalSteps} steps in ${(msPerRun / 1000).toFixed(1)} s; ${dir}`);

  const runDir = path.join(dir, 'run');
  const events = path.join(runDir, 'events.jsonl');
  const problems: string[] = [];
  let kills = 0;
  let terms = 0;
  let termsBeforeHandlers = 0;
  let resumes = 0;
  let lostSteps = 0;
  let partialLines = 0;
  let fallbacks = 0;
  let finished = false;
  let launches = 0;

  while (!finished) {
    const resuming = CheckpointStore.resolve(runDir, false) !== null;
    const before = stepEnds(events);
    const proc = resuming
      ? start(['pretrain', '--resume', runDir, ...common])
      : start(['pretrain', '--config', config, '--out', runDir, '--overwrite', ...common]);
    launches++;
    if (resuming) resumes++;
    if (kills + terms >= args.kills) {
      const code = await proc.exit;
      if (code !== 0) problems.push(`final resume exited ${code}: ${proc.stderr().trim().split('\n').pop()}`);
      finished = true;
      break;
    }
    // Kill after a random number of new steps (0-3) plus a random part of a step, so kills land
    // in start-up, in steps, and in checkpoint writes (one per step here).
    const target = before + Math.floor(rng.uniform() * 4);
    const useTerm = rng.uniform() < 0.2;
    let exited: number | null | undefined;
    void proc.exit.then((c) => (exited = c));
    const deadline = Date.now() + 120000;
    while (exited === undefined && stepEnds(events) < target && Date.now() < deadline) await sleep(20);
    await sleep(rng.uniform() * 400);
    if (exited !== undefined) {
      if (exited !== 0) problems.push(`launch ${launches} exited ${exited} before the kill: ${proc.stderr().trim().split('\n').pop()}`);
      else finished = true;
      continue;
    }
    const stepAtKill = stepEnds(events);
    proc.kill(useTerm ? 'SIGTERM' : 'SIGKILL');
    const code = await proc.exit;
    if (useTerm) {
      terms++;
      // Killed by the signal itself (-1) only while Node is still loading, before any handler exists.
      if (code === -1) termsBeforeHandlers++;
      else if (code !== 143 && code !== 0) problems.push(`SIGTERM at launch ${launches}: exit ${code}, expected 143`);
      // A run that had started must end with run:end (interrupted) at the step of its newest checkpoint.
      const last = readEvents(events).events.pop();
      if (code === 143 && last?.type === 'run:end') {
        const newest = CheckpointStore.resolve(runDir, false);
        const at = newest ? readCheckpoint(newest).state.step : 0;
        if (last.reason !== 'interrupted' || (at !== last.step && (last.step as number) > 0)) {
          problems.push(`SIGTERM: run:end ${String(last.reason)} at step ${String(last.step)}, newest checkpoint at step ${at}`);
        }
      }
    } else kills++;
    if (code === 0) {
      finished = true;
      break;
    }
    // Check what the next resume will find.
    const { partialTail } = readEvents(events);
    if (partialTail) partialLines++;
    try {
      const pick = CheckpointStore.pickForResume(runDir);
      if (pick.warning) fallbacks++;
      readCheckpoint(pick.checkpoint.dir);
      lostSteps += Math.max(0, stepAtKill - pick.checkpoint.state.step);
    } catch (e) {
      if (fs.existsSync(path.join(runDir, 'checkpoints'))) problems.push(`after kill ${kills + terms}: ${(e as Error).message}`);
    }
  }

  // The whole record: each step once, losses as the uninterrupted run.
  const { events: all, partialTail } = readEvents(events);
  if (partialTail) problems.push('events.jsonl ends in a partial line');
  const seen = new Map<number, number>();
  let maxDiff = 0;
  for (const e of all) {
    if (e.type !== 'step:end') continue;
    const s = e.step as number;
    seen.set(s, (seen.get(s) ?? 0) + 1);
    maxDiff = Math.max(maxDiff, Math.abs((e.losses as { loss: number }).loss - (refLoss.get(s) ?? NaN)) || 0);
    if (!refLoss.has(s)) problems.push(`step ${s} is not in the reference`);
  }
  const dup = [...seen].filter(([, n]) => n > 1).map(([s]) => s);
  const missing = [...refLoss.keys()].filter((s) => !seen.has(s));
  if (dup.length) problems.push(`steps logged more than once: ${dup.join(', ')}`);
  if (missing.length) problems.push(`steps never logged: ${missing.join(', ')}`);
  if (!(maxDiff <= 1e-5)) problems.push(`losses differ from the uninterrupted run by up to ${maxDiff}`);
  const stale = fs.existsSync(path.join(runDir, 'checkpoints'))
    ? fs.readdirSync(path.join(runDir, 'checkpoints')).filter((n) => n.startsWith('.')).length
    : 0;
  if (stale) problems.push(`${stale} stale temporary folders in checkpoints/`);

  console.log(
    `soak: ${kills} SIGKILL + ${terms} SIGTERM (${termsBeforeHandlers} while Node was still loading), ${resumes} resumes, ${launches} launches; ` +
      `${lostSteps} steps recomputed (work since the last checkpoint), ${partialLines} partial events.jsonl lines repaired, ` +
      `${fallbacks} fallbacks from a damaged latest; ${seen.size}/${totalSteps} steps logged once each, ` +
      `max |loss - uninterrupted| ${maxDiff.toExponential(2)}; ${problems.length} problems`,
  );
  for (const p of problems) console.log(`soak: PROBLEM ${p}`);
  if (!args.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  process.exitCode = problems.length ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
