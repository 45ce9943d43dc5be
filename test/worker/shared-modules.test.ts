import fs from 'node:fs';
import path from 'node:path';
import { SHARED_MODULES } from '../../workflows/shared-modules';
import * as contract from '../../workflows/contract';
import * as inputs from '../../workflows/inputs';

const ROOT = path.resolve(__dirname, '../..');
const SHARED = path.join(ROOT, 'workflows/shared-modules.ts');

/** The project's own modules a file imports (relative imports, types-only ones left out), as absolute .ts paths. */
function localImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/^(?:import|export)(?! type )[^;]*?from '(\.[^']+)';/gms)].map((m) => m[1]!);
  return specifiers.map((spec) => {
    const base = path.resolve(path.dirname(file), spec);
    return fs.existsSync(`${base}.ts`) ? `${base}.ts` : path.join(base, 'index.ts');
  });
}

function importClosure(file: string, seen = new Set<string>()): Set<string> {
  for (const next of localImports(file)) {
    if (seen.has(next)) continue;
    seen.add(next);
    importClosure(next, seen);
  }
  return seen;
}

describe('modules shared by every run of a worker (workflows/shared-modules.ts)', () => {
  it('lists every module of ours it loads, so the SDK deep-freezes none of their zod schemas', () => {
    const listed = new Set(localImports(SHARED));
    const loaded = importClosure(SHARED);
    const relative = (files: Iterable<string>) => [...files].map((f) => path.relative(ROOT, f)).sort();
    expect(relative(loaded)).toEqual(relative(listed));
    expect(listed.size).toBe(SHARED_MODULES.length);
  });

  it('leaves the schemas themselves unfrozen and working: only the exports objects are frozen', () => {
    expect(SHARED_MODULES.every((exports) => Object.isFrozen(exports))).toBe(true);
    expect(Object.isFrozen(contract.operatorAnswer)).toBe(false);
    expect(contract.operatorAnswer.safeParse({ action: 'retry', by: 'oncall-1' }).success).toBe(true);
    expect(inputs.rekeyInput.safeParse({}).success).toBe(false);
  });
});
