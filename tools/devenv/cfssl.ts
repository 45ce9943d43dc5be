import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startProcess, tail, type ManagedProcess } from './child';
import { freePort, waitForPort } from './ports';

export const CFSSL_BIN = process.env.EKM_CFSSL_BIN ?? 'cfssl';
/** The signing profile for cluster KMIP client certificates: EKU clientAuth, one year. */
export const KMIP_CLIENT_PROFILE = 'kmip-client';

export interface CfsslCa {
  /** Base URL of `cfssl serve`, e.g. http://127.0.0.1:8888 */
  url: string;
  profile: string;
  caPem: string;
  caFile: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * A real CA on loopback: `cfssl gencert -initca` makes the CA (once per dir), `cfssl serve`
 * exposes POST /api/v1/cfssl/sign.
 */
export async function startCfssl(options: { dir: string; port?: number; commonName?: string }): Promise<CfsslCa> {
  const dir = options.dir;
  fs.mkdirSync(dir, { recursive: true });
  const caFile = path.join(dir, 'ca.pem');
  const caKeyFile = path.join(dir, 'ca-key.pem');
  if (!fs.existsSync(caFile)) {
    const csr = JSON.stringify({
      CN: options.commonName ?? 'EKM Demo Issuing CA',
      key: { algo: 'rsa', size: 2048 },
      names: [{ O: 'EKM runbooks', OU: 'test CA' }],
    });
    const out = execFileSync(CFSSL_BIN, ['gencert', '-initca', '-'], { input: csr, stdio: ['pipe', 'pipe', 'pipe'] });
    const { cert, key } = JSON.parse(out.toString()) as { cert: string; key: string };
    fs.writeFileSync(caFile, cert);
    fs.writeFileSync(caKeyFile, key, { mode: 0o600 });
  }
  const configFile = path.join(dir, 'config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      signing: {
        default: { expiry: '8760h', usages: ['signing', 'key encipherment', 'client auth'] },
        profiles: {
          [KMIP_CLIENT_PROFILE]: { expiry: '8760h', usages: ['signing', 'digital signature', 'key encipherment', 'client auth'] },
        },
      },
    }),
  );
  const port = options.port ?? (await freePort());
  const logFile = path.join(dir, 'cfssl.log');
  const proc = startProcess(
    'cfssl',
    CFSSL_BIN,
    ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', caFile, '-ca-key', caKeyFile, '-config', configFile],
    { logFile },
  );
  try {
    await waitForPort('127.0.0.1', port, 30_000, proc.isAlive);
  } catch (err) {
    await proc.stop(1000);
    throw new Error(`cfssl did not start: ${(err as Error).message}\n${tail(logFile)}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    profile: KMIP_CLIENT_PROFILE,
    caPem: fs.readFileSync(caFile, 'utf8'),
    caFile,
    process: proc,
    stop: () => proc.stop(5000),
  };
}
