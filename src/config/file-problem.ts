import path from 'node:path';

/**
 * Why a file named by a flag or a setting could not be read, in an operator's words instead of
 * Node's error code: "file /x/y does not exist", "is a directory", "is not readable by this user".
 */
export function fileProblem(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `file ${file} does not exist`;
    case 'ENOTDIR':
      return `file ${file} does not exist (a part of its path is not a directory)`;
    case 'EISDIR':
      return `${file} is a directory, not a file`;
    case 'EACCES':
    case 'EPERM':
      return `file ${file} is not readable by this user (permission denied)`;
    case 'ELOOP':
      return `file ${file} is a symbolic link that loops`;
    default:
      return `cannot read ${file}: ${code ?? (err as Error | undefined)?.message ?? 'unknown error'}`;
  }
}

/** Why a file could not be written: "cannot write /x/y.csr: folder /x does not exist", and so on. */
export function fileWriteProblem(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const why: Record<string, string> = {
    ENOENT: `folder ${path.dirname(file)} does not exist`,
    ENOTDIR: 'a part of its path is not a directory',
    EISDIR: 'it is a directory',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'the file system is read-only',
    ENOSPC: 'no space left on the device',
  };
  return `cannot write ${file}: ${(code && why[code]) ?? code ?? (err as Error | undefined)?.message ?? 'unknown error'}`;
}

/** Why a server could not listen on `listen` (host:port), in words. */
export function listenFailure(listen: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EADDRINUSE':
      return `${listen} is already in use (another process listens there)`;
    case 'EACCES':
    case 'EPERM':
      return `not permitted to listen on ${listen} (ports below 1024 need privileges)`;
    case 'EADDRNOTAVAIL':
      return `${listen}: that address is not one of this machine's`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${listen}: the host name does not resolve`;
    default:
      return `cannot listen on ${listen}: ${code ?? (err as Error | undefined)?.message ?? 'unknown error'}`;
  }
}
