import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const sourceDirs = ['src', 'workflows', 'activities', 'worker', 'tools'];
const stamp = path.join(root, 'dist', '.compiled-at');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

/**
 * Tests that start the worker or the CLI as real processes run dist/; recompile when a source is
 * newer than the last build, so `npx jest` alone never tests stale code.
 */
export function ensureCompiled(): void {
  const newest = Math.max(...sourceDirs.map((d) => newestSource(path.join(root, d))));
  const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
  if (newest <= built) return;
  try {
    execFileSync(path.join(root, 'node_modules/.bin/tsc'), ['-p', path.join(root, 'tsconfig.json')], {
      cwd: root,
      stdio: 'pipe',
    });
    fs.writeFileSync(stamp, new Date().toISOString());
  } catch (err) {
    // tsc still emits; tests of code that does not compile will say so themselves.
    process.stderr.write(
      `[global-setup] tsc reported errors; dist/ may be partly stale:\n${(err as { stdout?: Buffer }).stdout?.toString() ?? ''}\n`,
    );
  }
}
