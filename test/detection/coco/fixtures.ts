/** Loads the pycocotools reference fixtures (written by detection/coco/testdata/make_reference.py). */
import * as fs from 'fs';
import * as path from 'path';
import { repoRoot } from '../../helpers/reference';
import type { CocoDataset, CocoResult } from '../../../detection/coco';

/** test/fixtures/coco: under repoRoot in the normal dist/ build; found by walking up otherwise. */
export const fixtureDir = findFixtureDir();

function findFixtureDir(): string {
  const standard = path.join(repoRoot, 'test', 'fixtures', 'coco');
  if (fs.existsSync(standard)) return standard;
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures', 'coco');
    if (fs.existsSync(candidate)) return candidate;
  }
  return standard;
}

export function readFixture<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(fixtureDir, name), 'utf8')) as T;
}

export interface EvalCase {
  name: string;
  iouType: 'bbox' | 'segm' | 'keypoints';
  params: { useCats?: number; maxDets?: number[]; imgIds?: number[]; catIds?: number[] };
  data: string;
  expected: {
    stats: number[];
    lines: string[];
    counts: number[];
    evalImgsLength: number;
    recall: number[];
    precisionSamples: { index: number[]; value: number[] };
    scoresSamples: { index: number[]; value: number[] };
    evalImgs: ({ index: number } & Record<string, unknown>)[];
    iouThrs: number[];
    recThrs: number[];
  };
}

export interface EvalData {
  gt: CocoDataset;
  results: CocoResult[];
}

export function evalCaseNames(): string[] {
  return fs
    .readdirSync(fixtureDir)
    .filter((f) => f.startsWith('eval_') && f.endsWith('.json'))
    .map((f) => f.slice(5, -5))
    .sort();
}

/** A fresh copy of a case's dataset (the API must not depend on callers' objects staying unchanged). */
export function loadData(name: string): EvalData {
  return readFixture<EvalData>(`data_${name}.json`);
}
