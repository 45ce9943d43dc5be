/**
 * One simulator per state folder: `<dir>/simulator.lock` holds the pid of the process serving the
 * folder. A second simulator on the same folder would write the same ports and clusters file and
 * serve the same state files, so it is refused at start. A lock whose process is gone (killed,
 * crashed) is taken over.
 */
import fs from 'node:fs';
import path from 'node:path';

export class SimulatorDirBusyError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`another simulator is using ${dir} (pid ${pid}); stop it, or give another --dir`);
    this.name = 'SimulatorDirBusyError';
  }
}

export interface DirLock {
  readonly file: string;
  /** Removes the lock file (only if it is still ours); safe to call twice. */
  release(): void;
}

/** True when a process with this pid exists (EPERM: it exists, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holder(file: string): number | undefined {
  try {
    const pid = (JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: unknown }).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes `<dir>/simulator.lock` for this process (created exclusively, `{ pid, startedAt }`).
 * Throws SimulatorDirBusyError when a live process holds it, this one included (two fleets in one
 * process on one folder clash the same way). A lock naming a dead pid, or unreadable, is taken over.
 * The lock is also removed when the process exits normally.
 */
export function lockSimulatorDir(dir: string): DirLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'simulator.lock');
  const content = JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() });
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, content, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = holder(file);
      if (pid !== undefined && alive(pid)) throw new SimulatorDirBusyError(dir, pid);
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    if (holder(file) === process.pid) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  return { file, release };
}
