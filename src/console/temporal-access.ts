/**
 * The console's way to Temporal: the CLI's settings and client (one lazy connection; its gRPC
 * channel reconnects by itself when Temporal comes back), a
 * CliContext per request so the CLI's helpers (reachRun, requireWorker, startRunbook, ...) work
 * unchanged, and a bound on every request: an answer within `timeoutMs` or a page that says what
 * was being done and whether anything was sent.
 */
import { InterceptingCall, status as grpcStatus, type Interceptor } from '@grpc/grpc-js';
import { ekmDataConverter } from '../codec/data-converter';
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  ServiceError,
} from '@temporalio/client';
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

/** How long a request that gave up waits for its cancelled calls to end, to know whether something was sent. */
const SETTLE_AFTER_ABORT_MS = 2000;

/**
 * The SDK's retry interceptor, with every attempt (the first and each retry) bound to the abort
 * signal of the call's scope (`withAbortSignal`): once the signal is aborted, the attempt running is
 * cancelled and a retry not yet made is never sent (its message is held back and it ends CANCELLED).
 * The SDK's own cancellation cancels the first attempt only: a retry scheduled by then (Temporal
 * unreachable) would still go out when Temporal comes back, after the page said it had given up.
 */
export function abortableRetryInterceptor(signalOf: () => AbortSignal | undefined): Interceptor {
  const retry = makeGrpcRetryInterceptor(defaultGrpcRetryOptions()) as unknown as Interceptor;
  return (options, nextCall) => {
    // Called synchronously where the SDK makes the call, so the scope's signal is at hand.
    const signal = signalOf();
    if (!signal) return retry(options, nextCall);
    return retry(options, (attemptOptions) => {
      const attempt: InterceptingCall = new InterceptingCall(nextCall(attemptOptions), {
        start(metadata, listener, next) {
          next(metadata, listener);
          const cancel = () => attempt.cancelWithStatus(grpcStatus.CANCELLED, 'the console gave up on this request');
          if (signal.aborted) cancel();
          else signal.addEventListener('abort', cancel, { once: true });
        },
        sendMessage(message, next) {
          if (!signal.aborted) next(message);
        },
        halfClose(next) {
          if (!signal.aborted) next();
        },
      });
      return attempt;
    });
  };
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
    this.connection = Connection.lazy({
      ...temporalConnection(this.settings),
      connectTimeout: Math.min(5000, timeoutMs / 2),
      interceptors: [abortableRetryInterceptor(() => this.connection.callContextStorage.getStore()?.abortSignal)],
    });
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
    // When the page gives up (its bound, or Temporal unreachable), its calls are cancelled for real:
    // the abort ends the call running and every retry of it (abortableRetryInterceptor), so nothing
    // is sent after the page said what happened.
    const giveUp = new AbortController();
    let gaveUp: { status: 503 | 504; why?: string } | undefined;
    const givingUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        gaveUp ??= { status: 504 };
        reject(gaveUp);
      }, this.timeoutMs);
      // A call that has not answered within PROBE_AFTER_MS: is Temporal's address taking connections at all?
      // (Only then, so a healthy console does not open a bare TCP connection to Temporal for every page.)
      probe = setTimeout(() => {
        void unreachableBecause(this.settings.TEMPORAL_ADDRESS, Math.min(PROBE_MS, this.timeoutMs / 3)).then((why) => {
          if (why === undefined || gaveUp) return;
          gaveUp = { status: 503, why };
          reject(gaveUp);
        });
      }, PROBE_AFTER_MS);
    });
    const deadline = Date.now() + this.timeoutMs + GRPC_DEADLINE_SLACK_MS;
    const call = this.client.withAbortSignal(giveUp.signal, () => this.client.withDeadline(deadline, () => body(ctx)));
    const settled: Promise<boolean> = call.then(
      () => this.inflight.delete(settled),
      () => this.inflight.delete(settled),
    );
    this.inflight.add(settled);
    try {
      return await Promise.race([call, givingUp]);
    } catch (err) {
      if (!gaveUp || err !== gaveUp) throw this.problem(err, ctx);
      // The page gives up: cancel what still runs (the call and its retries), then say only what is certain.
      // A call made from now on is never sent (its message is held back), so only a change sent before
      // this moment (ctx.sent: the mutating call had begun) may still reach Temporal.
      const sentBefore = ctx.sent;
      giveUp.abort();
      const outcome = await Promise.race([
        call.then(
          (value) => ({ answered: true as const, value }),
          () => ({ answered: false as const }),
        ),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), SETTLE_AFTER_ABORT_MS).unref()),
      ]);
      // Answered in the moment before the cancellation: what it did is the page.
      if (outcome?.answered) return outcome.value;
      ctx.sent = sentBefore;
      throw new ConsoleProblem(
        gaveUp.status,
        gaveUp.status === 503 ? this.unreachableMessage(ctx, gaveUp.why) : this.timeoutMessage(ctx),
      );
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
    // "nothing was changed" only when nothing was sent: a call cancelled once sent may still have reached Temporal.
    const sent = ctx.sent ? `; ${ctx.sent.what} (${ctx.sent.workflowId}) may still reach Temporal: ${this.lookBeforeRetrying(ctx)}` : '; nothing was changed';
    return `cannot reach Temporal at ${this.settings.TEMPORAL_ADDRESS}${why ? ` (${why})` : ''}${sent}`;
  }

  private timeoutMessage(ctx: CliContext): string {
    const within = `within ${formatDuration(this.timeoutMs)}`;
    if (ctx.sent)
      return `${ctx.sent.what} was sent to ${ctx.sent.workflowId} but not answered ${within}: it may still reach Temporal and be applied when a worker picks it up; ${this.lookBeforeRetrying(ctx)}`;
    return `no answer ${within} while ${ctx.doing}; nothing was changed (Temporal at ${this.settings.TEMPORAL_ADDRESS})`;
  }

  private lookBeforeRetrying(ctx: CliContext): string {
    return /^the start of /.test(ctx.sent?.what ?? '')
      ? 'check the runs list before trying again'
      : "reload the run's page to see before trying again";
  }

  /** Closes the connection once the calls still running have ended (they end at their deadline; the client retries until then). */
  async close(): Promise<void> {
    const drained = Promise.allSettled([...this.inflight]);
    await Promise.race([drained, new Promise((r) => setTimeout(r, this.timeoutMs + 6000).unref())]);
    await Promise.race([this.connection.close().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}
