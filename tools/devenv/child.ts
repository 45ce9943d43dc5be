import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** A background server process we started and must stop. Its output goes to a log file. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  isAlive(): boolean;
  /** SIGTERM, then SIGKILL after graceMs. Resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now (crash tests). Resolves when the process has exited. */
  kill(): Promise<void>;
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): ManagedProcess {
  const log = fs.openSync(options.logFile, 'a');
  // Its own process group: servers such as PyKMIP fork a child per connection, and stopping the
  // group stops those too (killing only the parent leaves them behind).
  const child: ChildProcess = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', log, log],
    detached: true,
  });
  fs.closeSync(log);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone already
    }
  };
  running.add(signalGroup);
  void exit.then(() => {
    signalGroup('SIGKILL'); // forked children outlive their parent otherwise
    running.delete(signalGroup);
  });
  return {
    name,
    pid,
    logFile: options.logFile,
    isAlive: () => !exited,
    async stop(graceMs = 10_000) {
      if (exited) return;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
    async kill() {
      if (exited) return;
      signalGroup('SIGKILL');
      await exit;
    },
  };
}

/** Process groups still running; killed when this process exits, so nothing is left behind. */
const running = new Set<(signal: NodeJS.Signals) => void>();
process.on('exit', () => {
  for (const signalGroup of running) signalGroup('SIGKILL');
});

/** The last lines of a log file, for error messages when a server fails to start. */
export function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** CPU seconds (user + system) a process has used so far (/proc/PID/stat, clock ticks of 1/100 s); Linux only. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
