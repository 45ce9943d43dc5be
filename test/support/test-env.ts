import fs from 'node:fs';

/** What test/support/global-setup.ts started, shared by every test file (read from a JSON file). */
export interface TestEnv {
  /** Scratch folder for this test run; removed at the end. */
  dir: string;
  /** The workflows, bundled once for the whole run (Worker.create's workflowBundle.codePath). */
  workflowBundle: string;
  temporal: { address: string; namespace: string };
  kmip: {
    host: string;
    port: number;
    caPem: string;
    /** The KMIP server's CA key, to issue more client certificates in tests. */
    caKeyPem: string;
    client: { certificatePem: string; privateKeyPem: string; commonName: string };
  };
  cfssl: { url: string; profile: string; caPem: string };
}

export const TEST_ENV_VARIABLE = 'EKM_TEST_ENV_FILE';

export function testEnv(): TestEnv {
  const file = process.env[TEST_ENV_VARIABLE];
  if (!file) throw new Error(`${TEST_ENV_VARIABLE} is not set: run the tests through jest (global setup)`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as TestEnv;
}
