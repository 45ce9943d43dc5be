import fs from 'node:fs';
import path from 'node:path';
import { startProcess, tail, type ManagedProcess } from './child';
import { createKmipPki, type KmipPki } from './kmip-pki';
import { freePort, waitForPort } from './ports';

/** The Python that has Debian's python3-pykmip. */
export const PYKMIP_PYTHON = process.env.EKM_PYKMIP_PYTHON ?? '/usr/bin/python3';
/** PyKMIP's own server entry point, unchanged. */
export const PYKMIP_SERVER = '/usr/bin/pykmip-server';
/**
 * PyKMIP's server with KMIP custom attributes added ("x-" names in Create, Register, Locate, Get
 * Attributes), which PyKMIP 0.10 refuses and Element's keys carry (see the file's own comment).
 */
export const PYKMIP_SERVER_WITH_CUSTOM_ATTRIBUTES =
  [
    path.join(__dirname, 'pykmip-server.py'),
    // Compiled into dist/tools/devenv: the script stays in the source tree.
    path.resolve(__dirname, '..', '..', '..', 'tools', 'devenv', 'pykmip-server.py'),
  ].find((file) => fs.existsSync(file)) ?? path.join(__dirname, 'pykmip-server.py');

export interface PyKmipServer {
  host: string;
  port: number;
  pki: KmipPki;
  dir: string;
  databaseFile: string;
  process: ManagedProcess;
  stop(): Promise<void>;
  /** Starts it again on the same port, database and PKI (after stop or kill). */
  restart(): Promise<void>;
}

/**
 * Starts a real PyKMIP server on 127.0.0.1: TLS 1.2, ECDHE suites, client certificates required
 * with EKU clientAuth, SQLite database in `dir`. Reuses the PKI if one is given. By default it is
 * PyKMIP with KMIP custom attributes added (see `variant`).
 */
export async function startPyKmip(options: {
  dir: string;
  port?: number;
  pki?: KmipPki;
  /** More CAs whose client certificates the server accepts (e.g. the cfssl CA that signs cluster CSRs). */
  trustedClientCaPems?: string[];
  /**
   * 'extended' (default): PyKMIP with custom attributes (tools/devenv/pykmip-server.py), what
   * Element's keys need. 'plain': PyKMIP 0.10 exactly as packaged (a test shows what it refuses).
   */
  variant?: 'extended' | 'plain';
}): Promise<PyKmipServer> {
  const dir = options.dir;
  fs.mkdirSync(path.join(dir, 'policies'), { recursive: true });
  const pki = options.pki ?? (await createKmipPki(path.join(dir, 'pki')));
  const port = options.port ?? (await freePort());
  const host = '127.0.0.1';
  const databaseFile = path.join(dir, 'pykmip.db');
  const configFile = path.join(dir, 'server.conf');
  const clientCasFile = path.join(dir, 'client-cas.pem');
  fs.writeFileSync(
    clientCasFile,
    [pki.ca.certificatePem, ...(options.trustedClientCaPems ?? [])].map((p) => p.trim()).join('\n') + '\n',
  );
  fs.writeFileSync(
    configFile,
    [
      '[server]',
      `hostname=${host}`,
      `port=${port}`,
      `certificate_path=${pki.serverCertFile}`,
      `key_path=${pki.serverKeyFile}`,
      `ca_path=${clientCasFile}`,
      'auth_suite=TLS1.2',
      `policy_path=${path.join(dir, 'policies')}`,
      'enable_tls_client_auth=True',
      'tls_cipher_suites=',
      '    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
      '    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      '    TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384',
      '    TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
      'logging_level=INFO',
      `database_path=${databaseFile}`,
      '',
    ].join('\n'),
  );
  const logFile = path.join(dir, 'server.log');
  const launch = async (): Promise<ManagedProcess> => {
    const [command, ...prefix] =
      options.variant === 'plain' ? [PYKMIP_SERVER] : [PYKMIP_PYTHON, PYKMIP_SERVER_WITH_CUSTOM_ATTRIBUTES];
    const proc = startProcess('pykmip', command!, [...prefix, '-f', configFile, '-l', logFile], {
      logFile: path.join(dir, 'stdout.log'),
    });
    try {
      await waitForPort(host, port, 30_000, proc.isAlive);
    } catch (err) {
      await proc.stop(1000);
      throw new Error(`PyKMIP did not start: ${(err as Error).message}\n${tail(logFile)}\n${tail(path.join(dir, 'stdout.log'))}`);
    }
    return proc;
  };
  const server: PyKmipServer = {
    host,
    port,
    pki,
    dir,
    databaseFile,
    process: await launch(),
    // PyKMIP's accept loop has a 10 s socket timeout, so SIGTERM can take that long; don't wait for it.
    stop: () => server.process.stop(2000),
    async restart() {
      await server.process.stop(2000);
      server.process = await launch();
    },
  };
  return server;
}
