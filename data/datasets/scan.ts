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

/**
 * List `dir/<class>/<file>` with the given extensions (case-insensitive), classes and files sorted
 * by code point so the index is the same on every machine. `maxPerClass` keeps the first N files.
 */
export function scanClassFolders(dir: string, extensions: readonly string[], maxPerClass?: number): FolderIndex {
  const exts = new Set(extensions.map((e) => '.' + e.toLowerCase().replace(/^\./, '')));
  const classNames = fs
    .readdirSync(dir)
    .filter((name) => !name.startsWith('.') && isDir(path.join(dir, name)))
    .sort();
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((cls, label) => {
    let names = fs
      .readdirSync(path.join(dir, cls))
      .filter((f) => !f.startsWith('.') && exts.has(path.extname(f).toLowerCase()))
      .sort();
    if (maxPerClass !== undefined) names = names.slice(0, maxPerClass);
    for (const f of names) {
      files.push(path.join(dir, cls, f));
      labels.push(label);
    }
  });
  return { classNames, files, labels: Int32Array.from(labels) };
}

