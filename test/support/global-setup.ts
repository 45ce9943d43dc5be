import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCfssl } from '../../tools/devenv/cfssl';
import { startPyKmip } from '../../tools/devenv/pykmip';
import { startTemporalDevServer } from '../../tools/devenv/temporal';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../worker/bundle-options';
import { ensureCompiled } from './compile';
import { TEST_ENV_VARIABLE, type TestEnv } from './test-env';

/** Starts one Temporal dev server, one PyKMIP and one cfssl CA for the whole test run. */
export default async function globalSetup(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-test-'));
  const started = Date.now();
  ensureCompiled();
  const bundle = await bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: quietBundlerLogger });
  const workflowBundle = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(workflowBundle, bundle.code);
  const cfssl = await startCfssl({ dir: path.join(dir, 'cfssl') });
  const [temporal, kmip] = await Promise.all([
    startTemporalDevServer({ dir: path.join(dir, 'temporal') }),
    // Cluster client certificates signed by cfssl must be accepted too.
    startPyKmip({ dir: path.join(dir, 'pykmip'), trustedClientCaPems: [cfssl.caPem] }),
  ]);
  const env: TestEnv = {
    dir,
    workflowBundle,
    temporal: { address: temporal.address, namespace: temporal.namespace },
    kmip: {
      host: kmip.host,
      port: kmip.port,
      caPem: kmip.pki.ca.certificatePem,
      caKeyPem: kmip.pki.ca.privateKeyPem,
      client: kmip.pki.client,
    },
    cfssl: { url: cfssl.url, profile: cfssl.profile, caPem: cfssl.caPem },
  };
  const file = path.join(dir, 'test-env.json');
  fs.writeFileSync(file, JSON.stringify(env));
  process.env[TEST_ENV_VARIABLE] = file;
  (globalThis as Record<string, unknown>).__EKM_SERVERS__ = { temporal, kmip, cfssl, dir };
  process.stderr.write(
    `\n[global-setup] temporal ${temporal.address}, pykmip :${kmip.port}, cfssl ${cfssl.url} (${Date.now() - started} ms)\n`,
  );
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`[bundler] ${message}\n`),
  error: (message: string) => process.stderr.write(`[bundler] ${message}\n`),
};
