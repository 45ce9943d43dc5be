/**
 * The console's way to Temporal: the CLI's settings and client (one lazy connection; its gRPC
 * channel reconnects by itself when Temporal comes back), a
 * CliContext per request so the CLI's helpers (reachRun, requireWorker, startRunbook, ...) work
 * unchanged, and a bound on every request: an answer within `timeoutMs` or a page that says what
 * was being done and whether anything was sent.
 */
import { ekmDataConverter } from '../codec/data-converter';
import { Client, Connection, ServiceError } from '@temporalio/client';
import { temporalConnection, type RuntimeSettings } from '../config/runtime';
import { ConfigError } from '../config/zod-errors';
import { formatDuration } from '../durations';
import { CliError, ExitCode } from '../cli/exit-codes';
import { temporalRefusal } from '../cli/run';
import { isUnreachable, type CliContext } from '../cli/temporal';
import { PROBE_MS, unreachableBecause } from '../temporal/reachability';

/** What a request could not do, as an HTTP status and a sentence for the page. */
export class ConsoleProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ConsoleProblem';
  }
}

const STATUS_OF_EXIT: Record<number, number> = {
  [ExitCode.usage]: 400,
  [ExitCode.notFound]: 404,
  [ExitCode.refused]: 409,
  [ExitCode.unavailable]: 503,
};

const GRPC_DEADLINE_SLACK_MS = 1000;
/** A request's calls that have not answered by then start the probe. */
const PROBE_AFTER_MS = 500;

/** gRPC DEADLINE_EXCEEDED anywhere in the cause chain: a bound that ran out, not a refusal by Temporal. */
function isDeadlineExceeded(err: unknown): boolean {
  for (let current = err as { code?: unknown; cause?: unknown } | undefined; current; current = current.cause as typeof current)
    if (current.code === 4) return true;
  return false;
}

export class ConsoleTemporal {
  private readonly connection: Connection;
  private readonly client: Client;
  /** Calls still running (a request that timed out leaves its call to end at its deadline). */
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    readonly settings: RuntimeSettings,
    readonly timeoutMs: number,
  ) {
    this.connection = Connection.lazy({ ...temporalConnection(this.settings), connectTimeout: Math.min(5000, timeoutMs / 2) });
    // Payloads encrypted by the worker (EKM_PAYLOAD_KEYS_FILE) are decoded here as in the CLI.
    this.client = new Client({
      connection: this.connection,
      namespace: this.settings.TEMPORAL_NAMESPACE,
      dataConverter: ekmDataConverter(this.settings),
    });
  }

  /**
   * Runs `body` with a fresh CliContext, bounded by timeoutMs. Every failure becomes a
   * ConsoleProblem in words (the CLI's: unreachable, refused by Temporal, no worker, not found,
   * refused by the runbook); a time-out says what it was doing and whether something was sent.
   */
  async run<T>(doing: string, body: (ctx: CliContext) => Promise<T>): Promise<T> {
    const ctx: CliContext = {
      settings: this.settings,
      client: this.client,
      close: async () => undefined,
      doing,
      unbounded: () => undefined,
    };
    let timer: NodeJS.Timeout | undefined;
    let probe: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ConsoleProblem(504, this.timeoutMessage(ctx))), this.timeoutMs);
    });
    try {
      // The deadline ends the gRPC calls (and the client's retries of them) with the bound, a little
      // after the timer: the timer's page (which says whether something was sent) wins the race, not
      // the SDK's bare 'Call cancelled'.
      const deadline = Date.now() + this.timeoutMs + GRPC_DEADLINE_SLACK_MS;
      const call = this.client.withDeadline(deadline, () => body(ctx));
      const settled: Promise<boolean> = call.then(
        () => this.inflight.delete(settled),
        () => this.inflight.delete(settled),
      );
      this.inflight.add(settled);
      // A call that has not answered within PROBE_AFTER_MS: is Temporal's address taking connections at all?
      // (Only then, so a healthy console does not open a bare TCP connection to Temporal for every page.)
      const unreachable = new Promise<never>((_, reject) => {
        probe = setTimeout(() => {
          void unreachableBecause(this.settings.TEMPORAL_ADDRESS, Math.min(PROBE_MS, this.timeoutMs / 3)).then((why) => {
            if (why !== undefined) reject(new ConsoleProblem(503, this.unreachableMessage(ctx, why)));
          });
        }, PROBE_AFTER_MS);
      });
      return await Promise.race([call, timedOut, unreachable]);
    } catch (err) {
      throw this.problem(err, ctx);
    } finally {
      clearTimeout(timer);
      clearTimeout(probe);
    }
  }

  private problem(err: unknown, ctx: CliContext): ConsoleProblem {
    if (err instanceof ConsoleProblem) return err;
    if (err instanceof CliError) return new ConsoleProblem(STATUS_OF_EXIT[err.exitCode] ?? 500, err.message);
    if (err instanceof ConfigError) return new ConsoleProblem(400, err.message);
    if (isUnreachable(err)) return new ConsoleProblem(503, this.unreachableMessage(ctx));
    if (isDeadlineExceeded(err)) return new ConsoleProblem(504, this.timeoutMessage(ctx));
    if (err instanceof ServiceError) return new ConsoleProblem(503, temporalRefusal(ctx, err));
    if (ctx.sent)
      return new ConsoleProblem(
        500,
        `${ctx.sent.what} was sent to ${ctx.sent.workflowId}, then: ${(err as Error).message}; it may still be applied: reload the run's page to see before sending it again`,
      );
    return new ConsoleProblem(500, `unexpected error while ${ctx.doing}: ${(err as Error).message}`);
  }

  private unreachableMessage(ctx: CliContext, why?: string): string {
    const sent = ctx.sent ? `; ${ctx.sent.what} may not have reached ${ctx.sent.workflowId}` : '; nothing was changed';
    return `cannot reach Temporal at ${this.settings.TEMPORAL_ADDRESS}${why ? ` (${why})` : ''}${sent}`;
  }

  private timeoutMessage(ctx: CliContext): string {
    const within = `within ${formatDuration(this.timeoutMs)}`;
    if (ctx.sent)
      return `${ctx.sent.what} was sent to ${ctx.sent.workflowId} but not answered ${within}: it may still be applied when a worker picks it up; reload the run's page to see`;
    return `no answer ${within} while ${ctx.doing}; nothing was changed (Temporal at ${this.settings.TEMPORAL_ADDRESS})`;
  }

  /** Closes the connection once the calls still running have ended (they end at their deadline; the client retries until then). */
  async close(): Promise<void> {
    const drained = Promise.allSettled([...this.inflight]);
    await Promise.race([drained, new Promise((r) => setTimeout(r, this.timeoutMs + 6000).unref())]);
    await Promise.race([this.connection.close().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}
