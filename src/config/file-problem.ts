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
