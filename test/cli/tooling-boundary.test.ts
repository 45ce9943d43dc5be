/**
 * The product and the tooling apart: `ekm status --help` loads neither the simulator (nor any
 * tooling) nor @temporalio/worker nor fastify nor @peculiar/x509; `ekm simulator --help` does load the simulator (the check can
 * see it); an installation without tools/ (the worker image) says so for `ekm demo`; and the
 * Dockerfile copies no tooling into the image. Runs the built CLI (dist/).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const dist = path.join(root, 'dist');

/** Runs the CLI in a fresh node and returns every module file it loaded (from require.cache at exit). */
function modulesLoadedBy(args: string[], cli = path.join(dist, 'src/cli/main.js')): { modules: string[]; stdout: string } {
  const probe = [
    `process.argv = [process.argv[0], 'ekm', ...${JSON.stringify(args)}];`,
    `process.on('exit', () => require('fs').writeSync(2, '\\nMODULES ' + JSON.stringify(Object.keys(require.cache)) + '\\n'));`,
    `require(${JSON.stringify(cli)});`,
  ].join('\n');
  const run = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 60_000 });
  const line = run.stderr.split('\n').find((l) => l.startsWith('MODULES '));
  if (!line) throw new Error(`no module list: ${run.stderr}`);
  return { modules: JSON.parse(line.slice('MODULES '.length)) as string[], stdout: run.stdout };
}

describe('product and tooling apart', () => {
  it('ekm status --help loads neither the tooling nor @temporalio/worker', () => {
    const { modules, stdout } = modulesLoadedBy(['status', '--help']);
    expect(stdout).toContain('Usage: ekm status');
    expect(modules.some((m) => m.includes(`${path.sep}dist${path.sep}src${path.sep}cli`))).toBe(true);
    expect(modules.filter((m) => m.startsWith(path.join(dist, 'tools')))).toEqual([]);
    expect(modules.filter((m) => m.includes(`@temporalio${path.sep}worker`))).toEqual([]);
    // Nor the web framework (the console and the codec server load it when they start), nor the
    // X.509 library (loaded by the first certificate read): each costs start-up time.
    expect(modules.filter((m) => m.includes(`node_modules${path.sep}fastify${path.sep}`))).toEqual([]);
    expect(modules.filter((m) => m.includes(`@peculiar${path.sep}x509`))).toEqual([]);
  });

  it('ekm simulator --help loads the simulator only then (the check sees tooling when it is loaded)', () => {
    const { modules, stdout } = modulesLoadedBy(['simulator', '--help']);
    expect(stdout).toContain('Usage: ekm simulator');
    expect(modules.some((m) => m.startsWith(path.join(dist, 'tools', 'simulator')))).toBe(true);
  });

  it('an installation without tools/ says that ekm demo is not part of it (exit 2), and ekm status --help still works', () => {
    const image = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-image-'));
    try {
      for (const dir of ['src', 'workflows', 'activities', 'worker'])
        fs.cpSync(path.join(dist, dir), path.join(image, 'dist', dir), { recursive: true });
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(image, 'node_modules'));
      const cli = path.join(image, 'dist/src/cli/main.js');
      const demo = spawnSync(process.execPath, [cli, 'demo'], { encoding: 'utf8', timeout: 60_000 });
      expect(demo.status).toBe(2);
      expect(demo.stderr).toContain('ekm demo is not part of this installation');
      expect(execFileSync(process.execPath, [cli, 'status', '--help'], { encoding: 'utf8' })).toContain('Usage: ekm status');
    } finally {
      fs.rmSync(image, { recursive: true, force: true });
    }
  });

  it('the Dockerfile copies no tooling or tests into the worker image', () => {
    const copies = fs
      .readFileSync(path.join(root, 'Dockerfile'), 'utf8')
      .split('\n')
      .filter((l) => /^COPY\s/.test(l));
    expect(copies.length).toBeGreaterThan(3);
    expect(copies.filter((l) => /\btools\b|\btest\b|\s\.\s/.test(l))).toEqual([]);
    expect(copies.join('\n')).toMatch(/COPY src \.\/src/);
  });
});
