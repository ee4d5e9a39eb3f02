import * as fs from 'fs';
import * as path from 'path';

export interface FolderIndex {
  classNames: string[];
  files: string[];
  labels: Int32Array;
}

/** True for an existing directory (false for files and missing paths). */
export function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function imageFiles(dir: string, exts: ReadonlySet<string>): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => !f.startsWith('.') && exts.has(path.extname(f).toLowerCase()))
    .sort();
}

function extensionSet(extensions: readonly string[]): Set<string> {
  return new Set(extensions.map((e) => '.' + e.toLowerCase().replace(/^\./, '')));
}

/**
 * The images directly inside `dir` as one class named after the folder (unlabelled images for
 * pre-training, e.g. a detection set's train images). Sorted like `scanClassFolders`.
 */
export function scanImages(dir: string, extensions: readonly string[], maxImages?: number): FolderIndex {
  let names = imageFiles(dir, extensionSet(extensions));
  if (maxImages !== undefined) names = names.slice(0, maxImages);
  return {
    classNames: [path.basename(dir)],
    files: names.map((f) => path.join(dir, f)),
    labels: new Int32Array(names.length),
  };
}

/**
 * List `dir/<class>/<file>` with the given extensions (case-insensitive), classes and files sorted
 * by code point so the index is the same on every machine. `maxPerClass` keeps the first N files.
 */
export function scanClassFolders(dir: string, extensions: readonly string[], maxPerClass?: number): FolderIndex {
  const exts = extensionSet(extensions);
  const classNames = fs
    .readdirSync(dir)
    .filter((name) => !name.startsWith('.') && isDir(path.join(dir, name)))
    .sort();
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((cls, label) => {
    let names = imageFiles(path.join(dir, cls), exts);
    if (maxPerClass !== undefined) names = names.slice(0, maxPerClass);
    for (const f of names) {
      files.push(path.join(dir, cls, f));
      labels.push(label);
    }
  });
  return { classNames, files, labels: Int32Array.from(labels) };
}

