/**
 * `ekm codec-server`: decodes (and encodes) encrypted payloads for the Temporal web UI and the
 * `temporal` CLI (its codec endpoint), with the keys of EKM_PAYLOAD_KEYS_FILE, for authenticated
 * users only (the console's users file, or an authenticating proxy), CORS for the UI's origin only.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { Authenticator, listenProblem, loadUsersFile } from '../../console/auth';
import { loadRuntimeSettings } from '../../config/runtime';
import { ConfigError } from '../../config/zod-errors';
import { CliError, ExitCode } from '../exit-codes';
import { parseListen } from './console';
import { fileProblem, listenFailure } from '../../config/file-problem';

interface CodecServerFlags {
  listen: string;
  users?: string;
  uiOrigin?: string;
  tlsCert?: string;
  tlsKey?: string;
  behindProxy?: boolean;
  userHeader?: string;
}

function readFile(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new CliError(`${flag}: ${fileProblem(file, err)}`);
  }
}

export function registerCodecServer(program: Command): void {
  program
    .command('codec-server')
    .description("decodes encrypted payloads for the Temporal web UI's codec endpoint (see README, Production)")
    .option(
      '--listen <host:port>',
      'where to listen (loopback by default; beyond it needs TLS or --behind-proxy)',
      '127.0.0.1:8089',
    )
    .option(
      '--users <file>',
      "users file, as the console's: users: {NAME: {tokenFile: FILE}}; callers send Authorization: Bearer <token>",
    )
    .option(
      '--ui-origin <url>',
      'the Temporal web UI origin allowed to call (CORS), e.g. https://temporal.example.com:8080; without it only non-browser callers (temporal --codec-endpoint)',
    )
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'and this private key (PEM)')
    .option('--behind-proxy', 'an authenticating proxy in front names the user in --user-header')
    .option('--user-header <name>', 'with --behind-proxy: the header holding the user name')
    .action(async (flags: CodecServerFlags) => {
      try {
        await serve(flags);
      } catch (err) {
        const code = err instanceof CliError ? err.exitCode : err instanceof ConfigError ? ExitCode.usage : ExitCode.unavailable;
        process.stderr.write(`ekm codec-server: ${(err as Error).message}\n`);
        process.exit(code);
      }
    });
}

async function serve(flags: CodecServerFlags): Promise<void> {
  const { host, port } = parseListen(flags.listen);
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) throw new CliError('--tls-cert and --tls-key go together');
  if (flags.behindProxy && !flags.userHeader) throw new CliError('--behind-proxy needs --user-header NAME');
  if (flags.userHeader && !flags.behindProxy) throw new CliError('--user-header goes with --behind-proxy');
  if (!flags.users && !flags.behindProxy) throw new CliError('--users FILE is required (or --behind-proxy with --user-header)');
  const problem = listenProblem(host, { tls: Boolean(flags.tlsCert), behindProxy: Boolean(flags.behindProxy) });
  if (problem) throw new CliError(problem.replace('the console needs', 'the codec server needs'));
  let origin: string | undefined;
  if (flags.uiOrigin !== undefined) {
    try {
      origin = new URL(flags.uiOrigin).origin;
      if (!/^https?:/.test(origin)) throw new Error();
    } catch {
      throw new CliError(`--ui-origin: "${flags.uiOrigin}" must be an http(s) origin, e.g. http://127.0.0.1:8080`);
    }
  }
  const settings = loadRuntimeSettings();
  if (!settings.EKM_PAYLOAD_KEYS_FILE)
    throw new CliError('EKM_PAYLOAD_KEYS_FILE is not set: the codec server needs the payload keys');
  const https = flags.tlsCert
    ? { cert: readFile(flags.tlsCert, '--tls-cert'), key: readFile(flags.tlsKey!, '--tls-key') }
    : undefined;
  const auth = new Authenticator({
    users: flags.users ? loadUsersFile(flags.users) : undefined,
    proxyUserHeader: flags.userHeader?.toLowerCase(),
    secure: Boolean(https),
  });
  // Loaded here: the web framework is not for the CLI's other commands to start with.
  const { buildCodecServer } = await import('../../codec/codec-server');
  const app = await buildCodecServer({ keysFile: settings.EKM_PAYLOAD_KEYS_FILE, auth, allowedOrigin: origin, https });
  try {
    await app.listen({ host, port });
  } catch (err) {
    throw new CliError(`--listen: ${listenFailure(flags.listen, err)}`, ExitCode.usage);
  }
  const address = host.includes(':') ? `[${host}]` : host;
  process.stdout.write(`ekm codec-server on ${https ? 'https' : 'http'}://${address}:${port} for ${origin}\n`);
  const stop = () => void app.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
