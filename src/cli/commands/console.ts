/**
 * `ekm console`: the operations console in the browser (src/console). Same settings as the rest of
 * the CLI (Temporal address, namespace, TLS, task queue, clusters file); its own flags say where it
 * listens and who may use it. Runs until SIGINT/SIGTERM.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Command } from 'commander';
import { loadRuntimeSettings } from '../../config/runtime';
import { fileProblem, listenFailure } from '../../config/file-problem';
import { ConfigError } from '../../config/zod-errors';
import { parseDurationText } from '../../durations';
import { listenProblem } from '../../console/auth';
import { CliError, ExitCode } from '../exit-codes';

interface ConsoleFlags {
  listen: string;
  users?: string;
  tlsCert?: string;
  tlsKey?: string;
  behindProxy?: boolean;
  userHeader?: string;
  temporalUi: string;
  requestTimeout: string;
}

/** "127.0.0.1:8090", "[::1]:8090", "0.0.0.0:443" -> host and port; anything else names --listen. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535)
    throw new CliError(`--listen: "${text}" must be host:port, e.g. 127.0.0.1:8090 ([::1]:8090 for IPv6)`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/**
 * The --tls-cert/--tls-key pair as Node's TLS will load it: a PEM certificate, a PEM private key,
 * and the key the certificate's. Throws CliError (exit 2) naming the flag, instead of OpenSSL's
 * 'error:1E08010C:DECODER routines::unsupported' when the server starts.
 */
export function checkTlsPair(cert: Buffer, key: Buffer): void {
  let certificate: crypto.X509Certificate;
  try {
    certificate = new crypto.X509Certificate(cert);
  } catch {
    throw new CliError('--tls-cert: is not a PEM certificate');
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(key);
  } catch {
    throw new CliError('--tls-key: is not a PEM private key (unencrypted)');
  }
  if (!certificate.checkPrivateKey(privateKey))
    throw new CliError('--tls-key: is not the private key of the --tls-cert certificate');
}

/** A file named by a flag; one that is missing, a directory or unreadable is refused naming the flag (exit 2). */
export function readFlagFile(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new CliError(`${flag}: ${fileProblem(file, err)}`, ExitCode.usage);
  }
}

export function registerConsole(program: Command): void {
  program
    .command('console')
    .description('the operations console in the browser: runbooks, answers, signing, reports (see README, The console)')
    .option(
      '--listen <host:port>',
      'where to listen (loopback by default; beyond it needs TLS or --behind-proxy)',
      '127.0.0.1:8090',
    )
    .option('--users <file>', 'users file: users: {NAME: {tokenFile: FILE}} (tokens live in their own files)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'and this private key (PEM)')
    .option('--behind-proxy', 'an authenticating proxy (e.g. an OIDC proxy) in front names the user in --user-header')
    .option('--user-header <name>', 'with --behind-proxy: the header holding the user name, e.g. X-Forwarded-User')
    .option(
      '--temporal-ui <url>',
      "the Temporal web UI, linked from every run (default $EKM_TEMPORAL_UI_URL, else the dev server's)",
      process.env.EKM_TEMPORAL_UI_URL || 'http://localhost:8233',
    )
    .option('--request-timeout <duration>', 'longest a page waits for Temporal and the worker', '15s')
    .action(async (flags: ConsoleFlags) => {
      try {
        await serve(flags);
      } catch (err) {
        const code = err instanceof CliError ? err.exitCode : err instanceof ConfigError ? ExitCode.usage : ExitCode.unavailable;
        process.stderr.write(`ekm console: ${(err as Error).message}\n`);
        process.exit(code);
      }
    });
}

async function serve(flags: ConsoleFlags): Promise<void> {
  const { host, port } = parseListen(flags.listen);
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) throw new CliError('--tls-cert and --tls-key go together');
  if (flags.behindProxy && !flags.userHeader)
    throw new CliError('--behind-proxy needs --user-header NAME: the header the proxy sets to the signed-in user');
  if (flags.userHeader && !flags.behindProxy) throw new CliError('--user-header goes with --behind-proxy');
  if (!flags.users && !flags.behindProxy) throw new CliError('--users FILE is required (or --behind-proxy with --user-header)');
  const problem = listenProblem(host, { tls: Boolean(flags.tlsCert), behindProxy: Boolean(flags.behindProxy) });
  if (problem) throw new CliError(problem);
  const timeout = parseDurationText(flags.requestTimeout, { minMs: 1000, maxMs: 600_000 });
  if ('problem' in timeout) throw new CliError(`--request-timeout: ${timeout.problem}`);
  if (!/^https?:\/\//.test(flags.temporalUi)) throw new CliError(`--temporal-ui: "${flags.temporalUi}" must be an http(s) URL`);
  const settings = loadRuntimeSettings();
  // The server (fastify, the plan module and through it the activity readers) loads only for this command.
  const { Authenticator, loadUsersFile } = await import('../../console/auth');
  const { buildConsole } = await import('../../console/server');
  const https = flags.tlsCert
    ? { cert: readFlagFile(flags.tlsCert, '--tls-cert'), key: readFlagFile(flags.tlsKey!, '--tls-key') }
    : undefined;
  if (https) checkTlsPair(https.cert, https.key);
  const auth = new Authenticator({
    users: flags.users ? loadUsersFile(flags.users) : undefined,
    proxyUserHeader: flags.userHeader?.toLowerCase(),
    secure: Boolean(https),
  });
  const { app } = await buildConsole({
    settings,
    auth,
    https,
    timeoutMs: timeout.ms,
    temporalUiUrl: flags.temporalUi,
    auditLogFile: settings.EKM_AUDIT_LOG,
  });
  let url: string;
  try {
    url = await app.listen({ host, port });
  } catch (err) {
    throw new CliError(`--listen: ${listenFailure(flags.listen, err)}`, ExitCode.usage);
  }
  process.stdout.write(
    `ekm console on ${url} (Temporal ${settings.TEMPORAL_ADDRESS}, namespace ${settings.TEMPORAL_NAMESPACE}, task queue ${settings.EKM_TASK_QUEUE})\n`,
  );
  const stop = () => {
    void app.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
