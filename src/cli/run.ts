import { ConfigError } from '../config/zod-errors';
import { CliError, ExitCode } from './exit-codes';
import { connect, isUnreachable, type CliContext } from './temporal';

/** Runs a command with a Temporal connection; maps errors to a message and an exit code. */
export async function run(body: (ctx: CliContext, out: (line: string) => void) => Promise<number>): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let ctx: CliContext | undefined;
  try {
    ctx = connect();
    process.exitCode = await body(ctx, out);
  } catch (err) {
    if (!(err instanceof CliError) && ctx && isUnreachable(err)) {
      process.stderr.write(`ekm: cannot reach Temporal at ${ctx.settings.TEMPORAL_ADDRESS}: ${(err as Error).message}\n`);
      process.exitCode = ExitCode.unavailable;
      return;
    }
    const code = err instanceof CliError ? err.exitCode : err instanceof ConfigError ? ExitCode.usage : ExitCode.runbookFailed;
    process.stderr.write(`ekm: ${(err as Error).message}\n`);
    process.exitCode = code;
  } finally {
    await ctx?.close();
  }
}
