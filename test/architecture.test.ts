/**
 * The import graph's arrows point one way (docs/architecture.md): the per-frame stages, then the
 * ledger (write side), then the read side (verify, checkpoints, retention, evidence, console) and
 * the wiring (the server, the commands). A module that imports against the arrow fails here with
 * its file and the import that breaks the rule.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of every module under src/, as [importer, imported] paths relative to src/. */
function imports(): Array<[string, string]> {
  const edges: Array<[string, string]> = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)) {
      edges.push([relative(SRC, file), relative(SRC, resolve(dirname(file), m[1]!))]);
    }
  }
  return edges;
}

const room = (path: string): string => (path.includes('/') ? path.slice(0, path.indexOf('/')) : path);

/** Rooms that must not import from the rooms listed. */
const FORBIDDEN: Record<string, readonly string[]> = {
  framing: ['parsing', 'normalize', 'redact', 'stages', 'ledger'],
  parsing: ['normalize', 'redact', 'stages', 'ledger'],
  normalize: ['redact', 'stages', 'ledger'],
  ledger: ['verify', 'checkpoints', 'retention', 'evidence', 'console', 'monitoring', 'detect'],
};
const READ_AND_WIRING = ['verify', 'checkpoints', 'retention', 'evidence', 'console', 'cli', 'pipeline', 'server', 'main'];
const WRITE_PATH = ['framing', 'parsing', 'normalize', 'redact', 'listener', 'stages', 'ledger'];

describe('the import graph', () => {
  const edges = imports();

  it('finds the imports it checks (the scanner itself works)', () => {
    expect(edges.length).toBeGreaterThan(300);
    expect(edges).toContainEqual(['stages.ts', 'parsing/index']);
  });

  it('the earlier stages never import the later ones, and the ledger never imports the read side', () => {
    const against = edges.filter(([from, to]) => FORBIDDEN[room(from)]?.includes(room(to)));
    expect(against.map(([from, to]) => `${from} -> ${to}`)).toEqual([]);
  });

  it('no module of the write path imports the read side or the wiring', () => {
    const against = edges.filter(([from, to]) => WRITE_PATH.includes(room(from).replace(/\.ts$/, '')) && READ_AND_WIRING.includes(room(to)));
    expect(against.map(([from, to]) => `${from} -> ${to}`)).toEqual([]);
  });
});
