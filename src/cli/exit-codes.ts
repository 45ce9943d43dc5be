/** Exit codes an operator's scripts can branch on. */
export const ExitCode = {
  ok: 0,
  /** The runbook ended failed or cancelled (with --wait), or a check failed. */
  runbookFailed: 1,
  /** Bad arguments or input: nothing was started or changed. */
  usage: 2,
  /** No such run, cluster or schedule. */
  notFound: 3,
  /** The cluster is busy with another runbook, or the answer was refused. */
  refused: 4,
  /** Temporal could not be reached. */
  unavailable: 5,
  /** A fleet has not ended yet (`ekm fleet status` of a running fleet, or --watch that reached --timeout). */
  stillRunning: 6,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.usage,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
