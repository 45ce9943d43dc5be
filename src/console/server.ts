/**
 * `ekm console`: the operations console, a fastify server rendering HTML from the runbook
 * contract through the CLI's Temporal client and helpers. Every page that needs Temporal is
 * bounded (ConsoleTemporal.run); every mutating request needs the signed-in user's CSRF token and
 * records that user as `by`. See README, "The console".
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  answerUpdate,
  fleetStatusQuery,
  kmipDiagnosisQuery,
  progressQuery,
  runbookName,
  runbookState,
  type FleetStatus,
} from '../../workflows/contract';
import { clusterName } from '../../workflows/inputs';
import { runbookOfType, runbooks } from '../../workflows/runbooks';
import { certificateVerdict } from '../cli/commands/cert';
import { listRuns } from '../cli/commands/runs';
import { listFleets } from '../cli/fleet-list';
import { clusterCounts } from '../cli/fleet-outcome';
import {
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateStage,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { readCertificateText } from '../cli/certificate-files';
import { CliError, ExitCode } from '../cli/exit-codes';
import { checkKnownCluster } from '../cli/registry-check';
import { startRunbook, validateInput } from '../cli/start';
import { setupInputFromUpload } from '../cli/commands/setup';
import { submitSignedCertificate } from '../cli/submit-certificate';
import { describeRun, queryWorker, reachRun, requireWorker, update, type CliContext } from '../cli/temporal';
import { loadClusterRegistry } from '../config/clusters';
import type { RuntimeSettings } from '../config/runtime';
import { formatDuration } from '../durations';
import { endedRunMessage } from '../temporal/ended-run';
import { planFor, type PlanInputs } from '../plan';
import { buildRunReport, renderRunReportMarkdown } from '../report/run-report';
import {
  checkLoginCsrf,
  CSRF_FIELD,
  CSRF_HEADER,
  LOGIN_CSRF_COOKIE,
  LoginThrottle,
  newLoginCsrfToken,
  SESSION_COOKIE,
  type Authenticator,
  type Identity,
} from './auth';
import { ASSETS } from './assets';
import { answerFromForm, FILE_LABELS, fileField, textField, typedValues, UPLOAD_LIMIT_BYTES, type FormBody } from './forms';
import { page, type Html, type PageFrame } from './html';
import { ConsoleProblem, ConsoleTemporal } from './temporal-access';
import {
  csrFileName,
  waitingText,
  fleetListView,
  fleetView,
  listView,
  loginView,
  problemView,
  reportView,
  runView,
  signView,
  startView,
  STARTABLE,
  type ListedRun,
  type RunPageData,
  type SignPageData,
  type Startable,
} from './views';
import { temporalView } from '../cli/plan-busy';
import { withTemporalView } from '../cli/plan-command';

export interface ConsoleOptions {
  settings: RuntimeSettings;
  auth: Authenticator;
  /** The bound on every request that talks to Temporal (default 15 s). */
  timeoutMs?: number;
  /** The Temporal web UI's base URL, for a link on every run (e.g. http://localhost:8080). */
  temporalUiUrl?: string;
  /** The worker's Element call log, for reports (EKM_AUDIT_LOG). */
  auditLogFile?: string;
  /** Serve HTTPS with these. */
  https?: { cert: Buffer; key: Buffer };
}

/** The signing form's inputs, as its verdicts name them (the CLI says --cert and --ca). */
const SIGN_NAMES = { certificate: 'Signed certificate', ca: 'CA chain' };
/** How long a progress query for the runbooks list may take per run (a run with no worker is left unexplained). */
const LIST_QUERY_MS = 3000;
/** The largest request body: a form with three certificate uploads and pasted text. */
const BODY_LIMIT_BYTES = 6 * UPLOAD_LIMIT_BYTES;

/** The longest run id in an address: Temporal's default limit on a workflow id (a scheduled rekey's id is over fastify's default 100). */
const MAX_RUN_ID_LENGTH = 1000;

/**
 * The refusal of a form over a limit, with its real size (the request's Content-Length) and the
 * limits: a certificate pasted or uploaded is checked whole, never cut to a limit first.
 */
function tooLargeMessage(request: FastifyRequest, fileOverLimit = false): string {
  const length = Number(request.headers['content-length']);
  const size = Number.isFinite(length) && length > 0 ? ` (this form is ${length} bytes, ${Math.ceil(length / 1024)} KiB)` : '';
  const what = fileOverLimit ? `An uploaded file is over ${UPLOAD_LIMIT_BYTES} bytes` : `The form is too large${size}`;
  return `${what}: a certificate, pasted or uploaded, may be at most ${UPLOAD_LIMIT_BYTES} bytes (${UPLOAD_LIMIT_BYTES / 1024} KiB; a certificate with its chain is a few kilobytes), a whole form at most ${BODY_LIMIT_BYTES} bytes (${BODY_LIMIT_BYTES / 1024} KiB)${fileOverLimit ? size : ''}. Nothing was sent.`;
}

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
    /** An uploaded file over the limit, in words: the route shows its form again with it (FORMS_SHOWN_AGAIN). */
    uploadRefusal?: string;
    /** The files of a multipart form, by input name: the name the browser gave the file and its size. */
    uploads?: Record<string, { filename: string; bytes: number }>;
  }
}

/** How long an answer waits for a worker to take it once sent (the run's worker answered a query just before). */
const ANSWER_TAKEN_MS = 5000;

/**
 * How long a page waits for a run's worker to answer a query. A worker that stopped less than about
 * 90 s ago still shows as polling its task queue, and a query to it waits its whole deadline: the
 * page says so after this, not after the request's bound.
 */
const WORKER_QUERY_MS = 4000;

/**
 * A query to a run's worker (queryWorker), bounded by WORKER_QUERY_MS; a query no worker answered is
 * said as such, with the task queue, then `consequence` (CliError, exit unavailable).
 */
async function askWorker<T>(ctx: CliContext, taskQueue: string, consequence: string, call: () => Promise<T>): Promise<T> {
  try {
    return await queryWorker(taskQueue, consequence, () => ctx.client.withDeadline(Date.now() + WORKER_QUERY_MS, call));
  } catch (err) {
    if (err instanceof CliError && err.exitCode === ExitCode.unavailable && err.message.includes('(the query was not answered'))
      throw new CliError(
        `no worker answered within ${formatDuration(WORKER_QUERY_MS)} (the worker serving task queue ${taskQueue} may have stopped: one that stopped less than about 90 s ago still shows as polling); ${consequence}`,
        ExitCode.unavailable,
      );
    throw err;
  }
}

/** An uploaded file over the per-file limit: the input as the page names it, the file, its size, the limit. */
function fileTooLargeMessage(input: string, upload: { filename: string; bytes: number }, moreThan = false): string {
  const label = FILE_LABELS[input] ?? input;
  const name = upload.filename ? ` ("${upload.filename}")` : '';
  const size = `${moreThan ? 'more than ' : ''}${upload.bytes} bytes (${(upload.bytes / 1024).toFixed(1)} KiB)`;
  return `${label}: the file${name} is ${size}, over the limit of ${UPLOAD_LIMIT_BYTES} bytes (${UPLOAD_LIMIT_BYTES / 1024} KiB) for an uploaded file. Nothing was sent.`;
}

/** Routes whose form is shown again with an oversized upload's refusal next to it (nothing of the file is used). */
const FORMS_SHOWN_AGAIN = new Set(['/start/review', '/runs/:id/sign/check']);

const PUBLIC = [/^\/login$/, /^\/assets\//, /^\/healthz$/];

export async function buildConsole(options: ConsoleOptions): Promise<{ app: FastifyInstance; temporal: ConsoleTemporal }> {
  const { auth, settings } = options;
  const temporal = new ConsoleTemporal(settings, options.timeoutMs ?? 15_000);
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: MAX_RUN_ID_LENGTH },
    // An address the router cannot take (an id longer than any run's, a broken %-escape): a page in words, not fastify's JSON.
    frameworkErrors: (err, request, reply) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const part = /^\/[^/]+\/([^/?]*)/.exec(request.url)?.[1] ?? '';
      const text = tooLong
        ? `No such run: the id in the address is ${part.length} characters long, longer than any run id (at most ${MAX_RUN_ID_LENGTH}).`
        : 'The address is not valid (a broken %-escape); nothing was changed.';
      return securityHeaders(reply as unknown as FastifyReply)
        .code(tooLong ? 404 : 400)
        .type('text/html; charset=utf-8')
        .send(page({ title: 'Not found' }, problemView(tooLong ? 404 : 400, text, '/')));
    },
    ...(options.https ? { https: options.https } : {}),
  }) as unknown as FastifyInstance;
  await app.register(cookie);
  await app.register(formbody, { bodyLimit: BODY_LIMIT_BYTES });
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    // A text field may be as large as the whole form (whose size is checked first, onRequest): a pasted
    // certificate reaches the certificate reader whole, which names its real size against the limit.
    // A file is read whole up to the whole form's limit, so its refusal names its real size against the per-file limit (preHandler).
    limits: { fileSize: BODY_LIMIT_BYTES, files: 4, fields: 20, fieldSize: BODY_LIMIT_BYTES, parts: 30 },
    onFile: async function (this: FastifyRequest, part) {
      const bytes = (await part.toBuffer()).length;
      (this.uploads ??= {})[part.fieldname] = { filename: part.filename, bytes };
    },
  });
  app.addHook('onClose', () => temporal.close());

  // -------------------------------------------------------------------------------------------
  // Rendering and errors

  const frame = (request: FastifyRequest, title: string, extra: Partial<PageFrame> = {}): PageFrame => ({
    title,
    user: request.identity?.user,
    csrf: request.identity ? auth.csrfToken(request.identity) : undefined,
    ...extra,
  });
  const send = (reply: FastifyReply, status: number, f: PageFrame, body: Html) =>
    reply.code(status).type('text/html; charset=utf-8').send(page(f, body));
  const csrfOf = (request: FastifyRequest) => auth.csrfToken(request.identity!);
  const throttle = new LoginThrottle();
  /** The sign-in form with a fresh CSRF token in its cookie and its field (double submit). */
  const loginPage = (reply: FastifyReply, status: number, problem?: string) => {
    const token = newLoginCsrfToken();
    reply.setCookie(LOGIN_CSRF_COOKIE, token, { ...auth.cookieOptions(), path: '/login', maxAge: 3600 });
    return send(reply, status, { title: 'Sign in' }, loginView(token, problem));
  };
  const user = (request: FastifyRequest) => request.identity!.user;

  app.addHook('onSend', async (_request, reply, payload) => {
    securityHeaders(reply);
    return payload;
  });

  app.setErrorHandler(
    (err: Error & { code?: string; statusCode?: number; part?: { fieldname?: string; filename?: string } }, request, reply) => {
      if (err instanceof ConsoleProblem)
        return send(reply, err.status, frame(request, 'Not done'), problemView(err.status, err.message, back(request)));
      // A file over even the whole form's limit (a body sent without its length): multipart stopped reading it there.
      if (err.code === 'FST_REQ_FILE_TOO_LARGE' && err.part?.fieldname)
        return send(
          reply,
          413,
          frame(request, 'Too large'),
          problemView(
            413,
            fileTooLargeMessage(err.part.fieldname, { filename: err.part.filename ?? '', bytes: BODY_LIMIT_BYTES }, true),
            back(request),
          ),
        );
      if (err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413)
        return send(
          reply,
          413,
          frame(request, 'Too large'),
          problemView(413, tooLargeMessage(request, err.code === 'FST_REQ_FILE_TOO_LARGE'), back(request)),
        );
      if (err.statusCode && err.statusCode < 500)
        return send(
          reply,
          err.statusCode,
          frame(request, 'Not done'),
          problemView(
            err.statusCode,
            `The request could not be read (${err.code ?? 'malformed'}); nothing was changed.`,
            back(request),
          ),
        );
      return send(
        reply,
        500,
        frame(request, 'Error'),
        problemView(500, 'Unexpected error in the console; nothing was changed.', back(request)),
      );
    },
  );
  app.setNotFoundHandler((request, reply) =>
    send(reply, 404, frame(request, 'Not found'), problemView(404, `No page ${request.url.split('?')[0]}`, '/')),
  );

  // -------------------------------------------------------------------------------------------
  // Authentication: who (onRequest, before any body is read), then the CSRF token (preHandler)

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0]!;
    // A Bearer token is a sign-in too: failed ones count against the client address like the sign-in form's.
    const bearer = auth.loginEnabled && /^Bearer\s/i.test(request.headers.authorization ?? '');
    const bearerWaitMs = bearer ? throttle.retryAfterMs(request.ip) : 0;
    if (bearerWaitMs > 0) {
      const seconds = Math.ceil(bearerWaitMs / 1000);
      return reply
        .code(429)
        .header('retry-after', String(seconds))
        .type('text/plain; charset=utf-8')
        .send(
          `Too many failed sign-ins (Bearer tokens or the sign-in form) from ${request.ip}: ${throttle.limit} within ${formatDuration(throttle.windowMs)}. Wait ${seconds} s, then try again.\n`,
        );
    }
    request.identity = auth.identify({ headers: request.headers, cookies: request.cookies });
    if (bearer && request.identity?.via === 'proxy' && !auth.options.proxyUserHeader) throttle.clear(request.ip);
    else if (bearer && !request.identity) throttle.recordFailure(request.ip);
    if (request.identity || PUBLIC.some((p) => p.test(path))) return;
    if (request.method === 'GET' && (request.headers.accept ?? '').includes('text/html'))
      return loginPage(reply.header('www-authenticate', 'Bearer'), 401);
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .type('text/plain; charset=utf-8')
      .send(`${whyNotSignedIn(auth, request)}\n`);
  });
  // A form over the limit is refused by its Content-Length before its body is read (multipart has no limit on the whole).
  app.addHook('onRequest', async (request, reply) => {
    if (Number(request.headers['content-length']) > BODY_LIMIT_BYTES)
      return send(reply, 413, frame(request, 'Too large'), problemView(413, tooLargeMessage(request), back(request)));
  });
  app.addHook('preHandler', async (request, reply) => {
    if (request.method === 'GET' || request.method === 'HEAD' || !request.identity) return;
    const over = Object.entries(request.uploads ?? {}).find(([, u]) => u.bytes > UPLOAD_LIMIT_BYTES);
    // A form that can be shown again takes the refusal next to it (after the CSRF check below); other routes refuse here.
    if (over && FORMS_SHOWN_AGAIN.has(request.routeOptions.url ?? '')) request.uploadRefusal = fileTooLargeMessage(over[0], over[1]);
    else if (over)
      return send(
        reply,
        413,
        frame(request, 'Too large'),
        problemView(413, fileTooLargeMessage(over[0], over[1]), back(request)),
      );
    const body = (request.body ?? {}) as FormBody;
    const token = request.headers[CSRF_HEADER] ?? body[CSRF_FIELD];
    if (!auth.checkCsrf(request.identity, token))
      return send(
        reply,
        403,
        frame(request, 'Refused'),
        problemView(
          403,
          'Refused: the form’s security token (CSRF) is missing or stale. Reload the page and try again; nothing was changed.',
          back(request),
        ),
      );
  });

  // -------------------------------------------------------------------------------------------
  // Login

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/assets/:name', async (request, reply) => {
    const asset = ASSETS[(request.params as { name: string }).name];
    if (!asset) return reply.callNotFound();
    return reply.header('cache-control', 'public, max-age=3600').type(asset.type).send(asset.body);
  });
  app.get('/login', async (request, reply) => {
    if (request.identity) return reply.redirect('/', 303);
    if (!auth.loginEnabled)
      return send(reply, 401, { title: 'Sign in' }, problemView(401, 'Sign in through the proxy in front of this console.'));
    return loginPage(reply, 200);
  });
  app.post('/login', async (request, reply) => {
    const body = (request.body ?? {}) as FormBody;
    // Counted per client address before the token is looked at: guessing stops at the limit.
    const waitMs = throttle.retryAfterMs(request.ip);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      return loginPage(
        reply.header('retry-after', String(seconds)),
        429,
        `Too many failed sign-ins from ${request.ip}: ${throttle.limit} within ${formatDuration(throttle.windowMs)}. Wait ${seconds} s, then sign in again.`,
      );
    }
    if (!checkLoginCsrf(request.cookies[LOGIN_CSRF_COOKIE], body[CSRF_FIELD]))
      return loginPage(
        reply,
        403,
        'The sign-in form was stale or did not come from this console (its security token did not match): sign in again with this one.',
      );
    const name = typeof body.user === 'string' ? body.user.trim() : '';
    const token = typeof body.token === 'string' ? body.token : '';
    const who = auth.loginEnabled ? auth.checkLogin(name, token) : undefined;
    if (!who) {
      throttle.recordFailure(request.ip);
      return loginPage(reply, 401, 'User or token not accepted.');
    }
    throttle.clear(request.ip);
    const session = auth.startSession(who);
    reply.setCookie(SESSION_COOKIE, session.id, auth.cookieOptions());
    reply.clearCookie(LOGIN_CSRF_COOKIE, { ...auth.cookieOptions(), path: '/login', maxAge: undefined });
    return reply.redirect('/', 303);
  });
  app.post('/logout', async (request, reply) => {
    if (request.identity?.via === 'session') auth.endSession(request.identity.session.id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });

  // -------------------------------------------------------------------------------------------
  // Runbooks list

  app.get('/', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const filters = {
      cluster: query.cluster || undefined,
      runbook: query.runbook || undefined,
      state: query.state || undefined,
      all: query.all === '1',
    };
    const problems = [
      filters.cluster && !clusterName.safeParse(filters.cluster).success && `Cluster: "${filters.cluster}" is not a cluster name`,
      filters.runbook && !runbookName.safeParse(filters.runbook).success && `Runbook: "${filters.runbook}" is not a runbook`,
      filters.state && !runbookState.safeParse(filters.state).success && `State: "${filters.state}" is not a state`,
    ].filter(Boolean) as string[];
    if (problems.length) throw new ConsoleProblem(400, problems.join('; '));
    const runs = await temporal.run('listing the runbooks', async (ctx) => {
      const listed: ListedRun[] = await listRuns(ctx.client, filters, 200);
      await Promise.all(
        listed
          .filter((r) => r.state === 'waiting-for-input' && r.status === 'RUNNING')
          .slice(0, 30)
          .map(async (r) => {
            try {
              const p = await ctx.client.withDeadline(Date.now() + LIST_QUERY_MS, () =>
                ctx.client.workflow.getHandle(r.workflowId, r.runId).query(progressQuery.definition),
              );
              if (p.waiting) r.waiting = { since: p.waiting.since, prompt: p.waiting.prompt, kind: p.waiting.kind };
            } catch {
              // No worker answered: the row says so.
            }
          }),
      );
      return listed;
    });
    return send(
      reply,
      200,
      frame(request, 'Runbooks', { refreshUrl: request.url, flash: flashOf(query, request.url.split('?')[0]!) }),
      listView(runs, filters, { runbooks: runbookName.options, states: runbookState.options }),
    );
  });

  // -------------------------------------------------------------------------------------------
  // A run

  async function runPageData(ctx: CliContext, workflowId: string, csrf: string): Promise<RunPageData> {
    const handle = ctx.client.workflow.getHandle(workflowId);
    const description = await describeRun(ctx, handle);
    const data: RunPageData = {
      workflowId,
      runId: description.runId,
      status: description.status.name,
      workflowType: description.type,
      taskQueue: description.taskQueue,
      csrf,
      temporalUiUrl: options.temporalUiUrl
        ? `${options.temporalUiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(settings.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(description.runId)}/history`
        : undefined,
    };
    try {
      await requireWorker(ctx, description.taskQueue, 'the step table needs one to answer the progress query');
      ctx.doing = `reading the progress of ${workflowId}`;
      const unanswered = "the run's state cannot be read now: start a worker on it and reload";
      data.progress = await askWorker(ctx, description.taskQueue, unanswered, () => handle.query(progressQuery.definition));
      if (runbookOfType(description.type) === 'recover-kmip-server-fault')
        data.diagnosis = await askWorker(ctx, description.taskQueue, unanswered, () =>
          handle.query(kmipDiagnosisQuery.definition),
        );
    } catch (err) {
      if (err instanceof CliError) data.progressProblem = err.message;
      else data.progressProblem = `the run did not answer its progress query: ${(err as Error).message}`;
    }
    return data;
  }

  const idOf = (request: FastifyRequest) => (request.params as { id: string }).id;

  app.get('/runs/:id', async (request, reply) => {
    const id = idOf(request);
    const data = await temporal.run(`looking up ${id}`, (ctx) => runPageData(ctx, id, csrfOf(request)));
    const query = request.query as Record<string, string | undefined>;
    return send(reply, 200, frame(request, id, { refreshUrl: request.url, flash: flashOf(query, request.url.split('?')[0]!) }), runView(data));
  });

  app.post('/runs/:id/answer', async (request, reply) => {
    const id = idOf(request);
    const body = request.body as FormBody;
    const action = textField(body, 'action', 'Answer') ?? '';
    let message: string | undefined;
    try {
      const answer = answerFromForm(body, user(request));
      message = await temporal.run(`answering ${id}`, async (ctx) => {
        const handle = ctx.client.workflow.getHandle(id);
        const description = await describeRun(ctx, handle);
        if (description.status.name !== 'RUNNING') throw new ConsoleProblem(409, endedRunMessage(id, description));
        const unsent = 'nothing was sent; start a worker and answer again';
        await requireWorker(ctx, description.taskQueue, unsent);
        // A worker that stopped less than ~90 s ago still shows as polling: a query proves one runs the run
        // now, before anything is sent (an answer no worker takes would wait in Temporal).
        ctx.doing = `checking that a worker runs ${id}`;
        await askWorker(ctx, description.taskQueue, unsent, () => handle.query(progressQuery.definition));
        ctx.sent = { what: `the answer "${answer.action}"`, workflowId: id };
        ctx.doing = `answering ${id}`;
        let taken;
        try {
          taken = await update(
            () =>
              ctx.client.withDeadline(Date.now() + ANSWER_TAKEN_MS, () =>
                handle.startUpdate(answerUpdate.definition, { args: [answer], waitForStage: WorkflowUpdateStage.ACCEPTED }),
              ),
            handle,
          );
        } catch (err) {
          if (err instanceof CliError && err.exitCode === ExitCode.notFound) {
            const now = await describeRun(ctx, handle);
            if (now.status.name !== 'RUNNING') throw new ConsoleProblem(409, endedRunMessage(id, now));
          }
          // Only a bound that ran out means "sent, not taken yet"; anything else is said as it is.
          if (!(err instanceof WorkflowUpdateRPCTimeoutOrCancelledError)) throw err;
          return undefined;
        }
        return (await update(() => taken.result(), handle)).message;
      });
    } catch (err) {
      if (!(err instanceof ConsoleProblem) || err.status >= 500) throw err;
      // Refused (bad form, not accepted now, no such run): the run's page with the refusal next to the form,
      // or the refusal alone when the page cannot be made now (Temporal down).
      const data = await temporal.run(`looking up ${id}`, (ctx) => runPageData(ctx, id, csrfOf(request))).catch(() => undefined);
      if (!data) return send(reply, err.status, frame(request, 'Not done'), problemView(err.status, err.message, back(request)));
      data.refusal = { action, text: err.message, values: typedValues(body) };
      return send(reply, err.status, frame(request, id), runView(data));
    }
    if (message === undefined)
      return send(
        reply,
        202,
        frame(request, 'Sent'),
        problemView(
          202,
          `The answer "${action}" was sent to ${id} but not yet taken by a worker within ${formatDuration(ANSWER_TAKEN_MS)}; it will be applied when a worker picks it up (reload the run's page to see; do not send it again).`,
          back(request),
        ),
      );
    return reply.redirect(withFlash(`/runs/${encodeURIComponent(id)}`, `${action}: ${message}`), 303);
  });

  async function csrOf(ctx: CliContext, id: string) {
    const handle = ctx.client.workflow.getHandle(id);
    const consequence = 'the CSR is read through the progress query, which needs one';
    const { taskQueue, type } = await reachRun(ctx, handle, consequence);
    ctx.doing = `reading the CSR of ${id}`;
    const progress = await askWorker(ctx, taskQueue, consequence, () => handle.query(progressQuery.definition));
    return { progress, csrPem: progress.waiting?.csrPem ?? progress.csrPem, runbook: runbookOfType(type) };
  }

  /** Why a run has no CSR: only setup and renew runs make one; theirs may not be made yet. */
  const noCsr = (id: string, runbook: string | undefined, step: string | undefined) =>
    runbook === 'setup' || runbook === 'renew'
      ? `${id} has no CSR yet (step: ${step ?? 'none'})`
      : `${id} is a ${runbook ?? 'workflow'} run, which has no CSR: only setup and renew runs make one`;

  app.get('/runs/:id/csr', async (request, reply) => {
    const id = idOf(request);
    const { progress, csrPem, runbook } = await temporal.run(`reading the CSR of ${id}`, (ctx) => csrOf(ctx, id));
    if (!csrPem) throw new ConsoleProblem(404, noCsr(id, runbook, progress.currentStep));
    return reply
      .type('application/pkcs10')
      .header('content-disposition', `attachment; filename="${csrFileName(progress.cluster)}"`)
      .send(csrPem);
  });

  // -------------------------------------------------------------------------------------------
  // Signing

  async function signData(ctx: CliContext, id: string, csrf: string): Promise<SignPageData> {
    const { progress, csrPem, runbook } = await csrOf(ctx, id);
    return {
      workflowId: id,
      cluster: progress.cluster,
      csrPem,
      noCsr: csrPem ? undefined : noCsr(id, runbook, progress.currentStep),
      waitingForCertificate: progress.waiting?.kind === 'signed-certificate',
      mustOutlive: progress.waiting?.mustOutlive,
      csrf,
    };
  }

  /** The offline verdict on the form's certificate and CA chain (the CLI's `cert check`), and what would be sent. */
  async function verdictFor(data: SignPageData, body: FormBody, fromHidden: boolean) {
    if (!data.csrPem) throw new ConsoleProblem(404, data.noCsr ?? `${data.workflowId} has no CSR yet`);
    const pick = (text: string, file: string, label: string) => {
      const t = textField(body, text, label);
      const f = fromHidden ? undefined : fileField(body, file);
      if (t !== undefined && f) throw new ConsoleProblem(400, `${label}: paste it or upload a file, not both`);
      return t !== undefined ? Buffer.from(t) : f;
    };
    const cert = pick('certificatePem', 'certificateFile', 'Signed certificate');
    const ca = pick('caChainPem', 'caChainFile', 'CA chain');
    if (!cert) throw new ConsoleProblem(400, 'Signed certificate: paste the certificate or upload its file');
    // No CA chain: the certificate's own input may hold it (as `ekm cert check`/`submit-cert` without --ca);
    // the check says when the chain to the CSR's issuer is missing.
    const verdict = await certificateVerdict(
      data.csrPem,
      `run ${data.workflowId}`,
      { cert, ca, mustOutlive: data.mustOutlive },
      new Date(),
      SIGN_NAMES,
    );
    const accepted = verdict.accepted
      ? {
          certificatePem: readCertificateText(cert, 'Signed certificate').pem,
          ...(ca ? { caChainPem: readCertificateText(ca, 'CA chain').pem } : {}),
        }
      : undefined;
    return { verdict, accepted };
  }

  app.get('/runs/:id/sign', async (request, reply) => {
    const id = idOf(request);
    const data = await temporal.run(`reading the CSR of ${id}`, (ctx) => signData(ctx, id, csrfOf(request)));
    return send(reply, 200, frame(request, `Signing ${id}`), signView(data));
  });

  app.post('/runs/:id/sign/check', async (request, reply) => {
    const id = idOf(request);
    if (request.uploadRefusal) {
      const refusal = request.uploadRefusal;
      const shown = await temporal.run(`reading the CSR of ${id}`, (ctx) => signData(ctx, id, csrfOf(request))).catch(() => undefined);
      if (!shown) return send(reply, 413, frame(request, 'Too large'), problemView(413, refusal, back(request)));
      shown.values = typedValues(request.body as FormBody);
      return send(reply, 413, frame(request, `Signing ${id}`), signView({ ...shown, problem: refusal }));
    }
    const data = await temporal.run(`reading the CSR of ${id}`, (ctx) => signData(ctx, id, csrfOf(request)));
    data.values = typedValues(request.body as FormBody);
    try {
      Object.assign(data, await verdictFor(data, request.body as FormBody, false));
    } catch (err) {
      if (!(err instanceof ConsoleProblem)) throw err;
      return send(reply, err.status, frame(request, `Signing ${id}`), signView({ ...data, problem: err.message }));
    }
    // A verdict, accepted or not, is the check succeeding: 200 (a refused submission is 422).
    return send(reply, 200, frame(request, `Signing ${id}`), signView(data));
  });

  app.post('/runs/:id/sign/submit', async (request, reply) => {
    const id = idOf(request);
    const data = await temporal.run(`reading the CSR of ${id}`, (ctx) => signData(ctx, id, csrfOf(request)));
    data.values = typedValues(request.body as FormBody);
    try {
      // The same offline checks again: what reaches the runbook is what the verdict accepted.
      const { verdict, accepted } = await verdictFor(data, request.body as FormBody, true);
      if (!accepted) return send(reply, 422, frame(request, `Signing ${id}`), signView({ ...data, verdict }));
      const outcome = await temporal.run(`submitting the certificate to ${id}`, (ctx) =>
        submitSignedCertificate(ctx, id, { ...accepted, by: user(request) }),
      );
      const c = outcome.kind === 'accepted' ? outcome.accepted : outcome;
      const result = `${outcome.kind === 'accepted' ? 'Accepted by the runbook' : `Already accepted at ${outcome.at}`}: ${c.subject}, valid until ${c.notAfter}, SHA-256 ${c.fingerprint}`;
      return send(reply, 200, frame(request, `Signing ${id}`), signView({ ...data, waitingForCertificate: false, result }));
    } catch (err) {
      if (!(err instanceof ConsoleProblem)) throw err;
      return send(reply, err.status, frame(request, `Signing ${id}`), signView({ ...data, problem: err.message }));
    }
  });

  // -------------------------------------------------------------------------------------------
  // Report

  /** The report of one run of `id`: the latest, or the one whose run id the URL gives (`?run=RUNID`). */
  async function report(id: string, request: FastifyRequest) {
    const run = (request.query as Record<string, string | undefined>).run;
    const runId = run && /^[0-9a-f-]{1,64}$/i.test(run) ? run : undefined;
    return temporal.run(`building the report of ${id}`, async (ctx) => {
      try {
        const deadline = Date.now() + Math.max(1000, temporal.timeoutMs - 2000);
        return await ctx.client.withDeadline(deadline, () =>
          buildRunReport(ctx.client, id, options.auditLogFile ?? settings.EKM_AUDIT_LOG, { runId }),
        );
      } catch (err) {
        if (/^no run /.test((err as Error).message)) throw new CliError((err as Error).message, ExitCode.notFound);
        throw err;
      }
    });
  }
  app.get('/runs/:id/report', async (request, reply) => {
    const r = await report(idOf(request), request);
    return send(reply, 200, frame(request, `Report ${r.workflowId}`), reportView(r));
  });
  app.get('/runs/:id/report.md', async (request, reply) => {
    const r = await report(idOf(request), request);
    return reply
      .type('text/markdown; charset=utf-8')
      .header('content-disposition', `attachment; filename="${r.workflowId}-${r.runId}.md"`)
      .send(renderRunReportMarkdown(r));
  });
  app.get('/runs/:id/report.json', async (request, reply) => {
    const r = await report(idOf(request), request);
    return reply
      .type('application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="${r.workflowId}-${r.runId}.json"`)
      .send(`${JSON.stringify(r, null, 2)}\n`);
  });

  // -------------------------------------------------------------------------------------------
  // Fleets (read-only: `ekm fleet` starts, cancels and resumes them)

  app.get('/fleets', async (request, reply) => {
    const all = (request.query as Record<string, string | undefined>).all === '1';
    const fleets = await temporal.run('listing the fleets', async (ctx) => {
      const rows = await listFleets(ctx.client, { all, outcomes: true }, 200);
      // A running fleet has no result yet: its clusters' counts come from its status query (left empty when no worker answers).
      await Promise.all(
        rows
          .filter((f) => f.status === 'RUNNING' && !f.clusters)
          .slice(0, 30)
          .map(async (f) => {
            try {
              const status = await ctx.client.withDeadline(Date.now() + LIST_QUERY_MS, () =>
                ctx.client.workflow.getHandle(f.workflowId).query(fleetStatusQuery.definition),
              );
              f.clusters = clusterCounts(status.clusters);
            } catch {
              // No worker answered: the row's counts stay empty.
            }
          }),
      );
      return rows;
    });
    return send(reply, 200, frame(request, 'Fleets', { refreshUrl: request.url }), fleetListView(fleets, all));
  });

  app.get('/fleets/:id', async (request, reply) => {
    const id = idOf(request);
    const { status, waiting, problem } = await temporal.run(`reading the status of ${id}`, async (ctx) => {
      const handle = ctx.client.workflow.getHandle(id);
      const description = await describeRun(ctx, handle);
      try {
        await requireWorker(ctx, description.taskQueue, 'the fleet status is a query, which needs one');
        const fleetStatus = (await askWorker(
          ctx,
          description.taskQueue,
          "the fleet's state cannot be read now: start a worker and reload",
          () => handle.query(fleetStatusQuery.definition),
        )) as FleetStatus;
        // The fleet knows its children as running; which of them wait for a person is in their progress.
        const waiting = new Map<string, string>();
        await Promise.all(
          fleetStatus.clusters
            .filter((c) => c.state === 'running' || c.state === 'attached')
            .slice(0, 30)
            .map(async (c) => {
              try {
                const p = await ctx.client.withDeadline(Date.now() + LIST_QUERY_MS, () =>
                  ctx.client.workflow.getHandle(c.workflowId, c.runId).query(progressQuery.definition),
                );
                if (p.waiting) waiting.set(c.cluster, waitingText(p.waiting.kind, p.waiting.prompt));
              } catch {
                // Not started by a worker yet, or just ended: the fleet's own state stands.
              }
            }),
        );
        return { status: fleetStatus, waiting, problem: undefined };
      } catch (err) {
        return {
          status: undefined,
          waiting: undefined,
          problem: err instanceof CliError ? err.message : `the fleet did not answer its status query: ${(err as Error).message}`,
        };
      }
    });
    return send(reply, 200, frame(request, id, { refreshUrl: request.url }), fleetView(id, status, problem, Date.now(), waiting));
  });

  // -------------------------------------------------------------------------------------------
  // Start

  function clusters(): { clusters: string[]; clustersProblem?: string } {
    try {
      return { clusters: Object.keys(loadClusterRegistry(settings.EKM_CLUSTERS_FILE).clusters).sort() };
    } catch (err) {
      return {
        clusters: [],
        clustersProblem: `The clusters file could not be read (${(err as Error).message}): type the cluster's name.`,
      };
    }
  }

  interface StartRequest {
    runbook: Startable;
    cluster: string;
    input: Record<string, unknown>;
    /** How refusals name the input's fields (a setup input file's: "setup.yaml: testAttempts"). */
    names?: Readonly<Record<string, string>>;
  }

  /**
   * The start form -> the runbook and its input, checked with the runbook's own schema and the
   * clusters file. A setup's input is its uploaded input file, read as `ekm setup --input` reads one.
   */
  function startInput(body: FormBody, by: string, uploads: FastifyRequest['uploads']): StartRequest {
    const runbook = textField(body, 'runbook', 'Runbook');
    if (!STARTABLE.includes(runbook as Startable))
      throw new ConsoleProblem(400, `Runbook: "${runbook ?? ''}" cannot be started here (${STARTABLE.join(', ')})`);
    const cluster = textField(body, 'cluster', 'Cluster') ?? '';
    const ifBusy = textField(body, 'ifBusy') === 'wait' ? { ifBusy: 'wait' } : {};
    if (runbook === 'setup') {
      const file = fileField(body, 'setupFile');
      if (!file) throw new ConsoleProblem(400, 'Setup input file: choose the setup input file (YAML or JSON) to upload');
      const fileName = uploads?.setupFile?.filename || 'the setup input file';
      try {
        const { input, names } = setupInputFromUpload(cluster, file.toString('utf8'), fileName, `${by} (console)`);
        return { runbook, cluster, input: { ...input, ...ifBusy } as Record<string, unknown>, names };
      } catch (err) {
        if (err instanceof CliError) throw new ConsoleProblem(400, err.message);
        throw err;
      }
    }
    let input: Record<string, unknown>;
    if (runbook === 'rekey') input = { cluster, keyManagement: textField(body, 'keyManagement') ?? 'external', ...ifBusy };
    else if (runbook === 'renew') {
      const signer = textField(body, 'signer') ?? 'manual';
      input = {
        cluster,
        signer: signer === 'cfssl' ? { type: 'cfssl', url: textField(body, 'cfsslUrl', 'cfssl URL') ?? '' } : { type: signer },
        ...(textField(body, 'newKeyPair') === 'yes' ? { newKeyPair: true } : {}),
        ...ifBusy,
      };
    } else input = { cluster };
    input.requestedBy = `${by} (console)`;
    return { runbook: runbook as Startable, cluster, input };
  }

  function checkStart(start: StartRequest): void {
    try {
      validateInput(runbooks[start.runbook].input, start.input, start.names ?? { cfssl: 'cfssl URL', 'signer.url': 'cfssl URL' });
      const signer = start.input.signer as { type?: string; name?: string } | undefined;
      checkKnownCluster(settings, start.cluster, signer?.type === 'command' ? signer.name : undefined, {
        names: start.names ?? { 'signer.name': 'Signer' },
        clustersFile: 'the clusters file', // not the console's server path
      });
    } catch (err) {
      if (err instanceof CliError) throw new ConsoleProblem(400, err.message.replace(/^invalid input: /, ''));
      throw err;
    }
  }

  /**
   * The runbook's plan (src/plan: the cluster read with the runbook's own reader, read-only), bounded
   * like a request; a plan that cannot be made (the cluster does not answer, the console cannot read
   * its credentials) is said in words, and the start can still be confirmed.
   */
  async function planOf(start: { runbook: Startable; input: Record<string, unknown> }) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const registry = loadClusterRegistry(settings.EKM_CLUSTERS_FILE);
      const plan = await Promise.race([
        planFor(start.runbook, start.input as unknown as PlanInputs[Startable], { registry }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the cluster did not answer within ${temporal.timeoutMs / 1000} s`)),
            temporal.timeoutMs,
          );
        }),
      ]);
      // What Temporal adds, as `ekm … --plan` does: the same runbook running, the cluster lock held.
      const cluster = start.input.cluster as string;
      const ifBusy = start.input.ifBusy === 'wait' ? 'wait' : 'fail';
      const view = await temporal
        .run(`looking in Temporal for runs on ${cluster}`, (ctx) => temporalView(ctx, start.runbook, cluster, ifBusy))
        .catch((err: unknown) => ({
          refusals: [],
          facts: [
            `not checked: whether a ${start.runbook} runbook already runs on ${cluster} or another holds its lock (${(err as Error).message})`,
          ],
        }));
      return { plan: withTemporalView(plan, view) };
    } catch (err) {
      return { planProblem: `The plan could not be made: ${(err as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
  }

  app.get('/start', async (request, reply) =>
    send(reply, 200, frame(request, 'Start'), startView({ csrf: csrfOf(request), ...clusters() })),
  );

  app.post('/start/review', async (request, reply) => {
    const body = request.body as FormBody;
    const base = { csrf: csrfOf(request), ...clusters() };
    try {
      if (request.uploadRefusal) throw new ConsoleProblem(413, request.uploadRefusal);
      const start = startInput(body, user(request), request.uploads);
      checkStart(start);
      const inputJson = JSON.stringify(start.input);
      const { plan, planProblem } = await planOf(start);
      // Start is offered only with a plan whose precheck lets it start, and only for this input: it comes back signed.
      const inputSig = plan?.couldStart ? signReviewedStart(user(request), start.runbook, inputJson) : undefined;
      return send(
        reply,
        200,
        frame(request, 'Start'),
        startView({ ...base, review: { ...start, inputJson, inputSig, plan, planProblem } }),
      );
    } catch (err) {
      if (!(err instanceof ConsoleProblem)) throw err;
      // The form again, as it was filled in, with the refusal (a file input cannot be filled in again: its name is said).
      const refused = { values: typedValues(body), setupFileName: request.uploads?.setupFile?.filename };
      return send(reply, err.status, frame(request, 'Start'), startView({ ...base, ...refused, problem: err.message }));
    }
  });

  app.post('/start/go', async (request, reply) => {
    const body = request.body as FormBody;
    const base = { csrf: csrfOf(request), ...clusters() };
    const runbook = textField(body, 'runbook') as Startable;
    const inputJson = textField(body, 'input') ?? '';
    // The input reviewed on this console by this user, as its plan was shown: an edited one is refused.
    if (!reviewedStartIsIntact(user(request), runbook, inputJson, textField(body, 'inputSig')))
      throw new ConsoleProblem(
        400,
        'The reviewed input is not the one whose plan was shown (it was changed, or comes from another page or console): review it again from the Start page; nothing was started.',
      );
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(inputJson) as Record<string, unknown>;
    } catch {
      throw new ConsoleProblem(
        400,
        'The reviewed input is missing or malformed: start again from the Start page; nothing was started.',
      );
    }
    const start: StartRequest = {
      runbook,
      cluster: String(input?.cluster ?? ''),
      input: { ...input, requestedBy: `${user(request)} (console)` },
    };
    try {
      if (!STARTABLE.includes(runbook)) throw new ConsoleProblem(400, `Runbook: "${runbook}" cannot be started here`);
      checkStart(start);
      if (textField(body, 'confirm') !== 'yes')
        throw new ConsoleProblem(400, 'Tick the confirmation to start the runbook; nothing was started.');
      const handle = await temporal.run(`starting ${runbook} on ${start.cluster}`, (ctx) =>
        startRunbook(ctx, { runbook, input: start.input as never }),
      );
      return reply.redirect(withFlash(`/runs/${encodeURIComponent(handle.workflowId)}`, `started ${handle.workflowId}`), 303);
    } catch (err) {
      if (!(err instanceof ConsoleProblem) || err.status >= 500) throw err;
      const review = STARTABLE.includes(runbook)
        ? { ...start, inputJson: JSON.stringify(start.input), planProblem: 'The start was refused (above): review it again to see the plan.' }
        : undefined;
      return send(reply, err.status, frame(request, 'Start'), startView({ ...base, review, problem: err.message }));
    }
  });

  return { app, temporal };
}

/** What every response of the console carries (pages are ours only: no framing, no inline script). */
function securityHeaders(reply: FastifyReply): FastifyReply {
  reply.header(
    'content-security-policy',
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  );
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-frame-options', 'DENY');
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  return reply;
}

/**
 * A success message carried to the next page in its address, signed with this console's own key:
 * a link made elsewhere (`?ok=Session expired: …`) shows nothing.
 */
const FLASH_KEY = randomBytes(32);
const flashSignature = (text: string) => createHmac('sha256', FLASH_KEY).update(text).digest('base64url');

export function withFlash(path: string, text: string): string {
  const ok = text.slice(0, 500);
  return `${path}?ok=${encodeURIComponent(ok)}&okSig=${flashSignature(`${path}\n${ok}`)}`;
}

/** The success message of `query` when this console made it for this page (`path`: the address without its query). */
export function flashOf(query: Record<string, string | undefined>, path: string): PageFrame['flash'] {
  if (!query.ok || query.okSig !== flashSignature(`${path}\n${query.ok}`)) return undefined;
  return { kind: 'ok', text: query.ok };
}

/**
 * The signature of a reviewed start (who reviewed it, the runbook, its input as JSON), with the
 * console's own key: the Start form sends the input back, and only the one whose plan was shown
 * may start. A hex HMAC-SHA-256.
 */
export function signReviewedStart(user: string, runbook: string, inputJson: string): string {
  return createHmac('sha256', FLASH_KEY).update(`start\n${user}\n${runbook}\n${inputJson}`).digest('base64url');
}

function reviewedStartIsIntact(user: string, runbook: string, inputJson: string, signature: string | undefined): boolean {
  if (!signature) return false;
  const expected = Buffer.from(signReviewedStart(user, runbook, inputJson));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** A 401's words: what this request lacked, by how the console identifies people. */
function whyNotSignedIn(auth: Authenticator, request: FastifyRequest): string {
  const header = auth.options.proxyUserHeader;
  if (header && !auth.loginEnabled) return `no ${header} header: the proxy in front of this console names the user in it`;
  if (request.headers.authorization) return "the Bearer token was not accepted (a user's token from their token file)";
  if (request.cookies?.[SESSION_COOKIE])
    return 'the session has ended (signed out, idle too long or the console restarted): sign in again at /login';
  return 'sign in first: POST /login, or send Authorization: Bearer <token>';
}

/** Where "Back" goes from an error page: the run the request was about, else the list. */
function back(request: FastifyRequest): string {
  const match = /^\/runs\/([^/?]+)/.exec(request.url);
  return match ? `/runs/${match[1]}` : '/';
}
