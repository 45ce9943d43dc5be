import { ServiceError } from '@temporalio/client';
import { ConfigError } from '../config/zod-errors';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { formatDuration, parseDurationText } from '../durations';
import { CliError, ExitCode } from './exit-codes';
import { connect, isUnreachable, type CliContext } from './temporal';
import { PROBE_MS, unreachableBecause } from '../temporal/reachability';

/** Every command that talks to Temporal is bounded: `--timeout`, default 30 s. */
export const DEFAULT_TIMEOUT_MS = 30_000;
let timeoutMs = DEFAULT_TIMEOUT_MS;
/** --timeout was given: then it bounds a follow (`--wait`, `--watch`) too. */
let timeoutGiven = false;

/** The bound of this command, ms (`--timeout`, default 30 s); a bounded watch stops within it. */
export function commandTimeoutMs(): number {
  return timeoutMs;
}

/** From the global `--timeout` flag; a bad value is refused naming the flag. */
export function setCommandTimeout(text: string | undefined): void {
  if (text === undefined) return;
  const parsed = parseDurationText(text, { minMs: 1000, maxMs: 86_400_000 });
  if ('problem' in parsed) throw new CliError(`--timeout: ${parsed.problem}`, ExitCode.usage);
  timeoutMs = parsed.ms;
  timeoutGiven = true;
}

/**
 * Runs a command with a Temporal connection and maps errors to a message and an exit code. The
 * command must finish within the timeout, or it stops and says what it was doing (ctx.doing) and
 * whether anything was sent (ctx.sent); a command that follows a run to its end (`--wait`,
 * `--watch`) calls ctx.unbounded() once the bounded part is done: the follow then lasts until the
 * run ends, or, when --timeout was given, until it passes (exit 6; the run goes on).
 */
export async function run(body: (ctx: CliContext, out: (line: string) => void) => Promise<number>): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let ctx: CliContext | undefined;
  let timer: NodeJS.Timeout | undefined;
  let probe: NodeJS.Timeout | undefined;
  try {
    ctx = connect(timeoutMs);
    const context = ctx;
    let following = false;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            following
              ? new CliError(
                  `stopped following after --timeout ${formatDuration(timeoutMs)}; the run goes on (it was not cancelled)`,
                  ExitCode.stillRunning,
                )
              : new CliError(timeoutMessage(context), ExitCode.unavailable),
          ),
        timeoutMs,
      );
      context.unbounded = () => {
        if (timeoutGiven) following = true;
        else clearTimeout(timer);
      };
    });
    // Calls not answered within PROBE_AFTER_MS: does Temporal's address take connections at all? A
    // refused one ends the command at once instead of when the SDK's retries use up the bound.
    const unreachable = new Promise<never>((_, reject) => {
      probe = setTimeout(() => {
        void unreachableBecause(context.settings.TEMPORAL_ADDRESS, Math.min(PROBE_MS, timeoutMs / 3)).then((why) => {
          if (why !== undefined && !context.temporalOptional)
            reject(new CliError(cannotReach(context, why), ExitCode.unavailable));
        });
      }, PROBE_AFTER_MS);
    });
    process.exitCode = await Promise.race([body(ctx, out), timedOut, unreachable]);
  } catch (err) {
    if (!(err instanceof CliError) && ctx && isUnreachable(err)) {
      process.stderr.write(`ekm: ${cannotReach(ctx, await unreachableBecause(ctx.settings.TEMPORAL_ADDRESS, 1000))}\n`);
      process.exitCode = ExitCode.unavailable;
      return;
    }
    if (ctx && err instanceof ServiceError) {
      process.stderr.write(`ekm: ${temporalRefusal(ctx, err)}\n`);
      process.exitCode = ExitCode.unavailable;
      return;
    }
    const code = err instanceof CliError ? err.exitCode : err instanceof ConfigError ? ExitCode.usage : ExitCode.runbookFailed;
    process.stderr.write(`ekm: ${(err as Error).message}\n`);
    process.exitCode = code;
  } finally {
    clearTimeout(timer);
    clearTimeout(probe);
    // A call still pending after the timeout is abandoned: close without waiting for it.
    await Promise.race([ctx?.close(), new Promise((r) => setTimeout(r, 1000).unref())]);
  }
  if (process.exitCode === ExitCode.unavailable) process.exit(process.exitCode);
}

/** Temporal (or whatever answers at its address) refused a call: in words, with what to do when we know it. */
export function temporalRefusal(ctx: CliContext, err: ServiceError): string {
  const detail = (err.cause as { details?: string } | undefined)?.details || err.message;
  const namespace = ctx.settings.TEMPORAL_NAMESPACE;
  if (/search attribute/i.test(detail)) {
    return (
      `the Temporal namespace ${namespace} lacks the search attributes ${Object.keys(SEARCH_ATTRIBUTES).join(', ')} ` +
      `(${detail}): register them once, e.g. deploy/register-search-attributes.sh, or start a dev server with ` +
      Object.keys(SEARCH_ATTRIBUTES)
        .map((name) => `--search-attribute ${name}=Keyword`)
        .join(' ')
    );
  }
  return `Temporal at ${ctx.settings.TEMPORAL_ADDRESS} (namespace ${namespace}) refused: ${err.message}: ${detail}`;
}

/** A request's calls that have not answered by then start the reachability probe. */
const PROBE_AFTER_MS = 500;

function cannotReach(ctx: CliContext, why: string | undefined): string {
  return `cannot reach Temporal at ${ctx.settings.TEMPORAL_ADDRESS}${why ? ` (${why})` : ''}; nothing was changed`;
}

function timeoutMessage(ctx: CliContext): string {
  const within = `within ${formatDuration(timeoutMs)} (--timeout)`;
  if (ctx.sent) {
    return `${ctx.sent.what} was sent to ${ctx.sent.workflowId} but not answered ${within}: it may still be applied when a worker picks it up; check with: ekm status ${ctx.sent.workflowId}`;
  }
  return `no answer ${within} while ${ctx.doing}; nothing was changed (Temporal at ${ctx.settings.TEMPORAL_ADDRESS})`;
}
