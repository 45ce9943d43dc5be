/**
 * Two tiers, as jest projects (scripts/test.sh runs unit, then integration):
 *
 *  - unit: tests that need no server: the KMIP codec, Element schemas and the client against its
 *    local JSON-RPC server, PKI checks, config, the notifier, worker logging, failure
 *    classification, the simulator in process, docker-compose, replay of recorded histories.
 *    No global setup: nothing is started but what a test starts in its own process.
 *    `scripts/test.sh --unit` (or `npm run test:unit`).
 *  - integration: everything else, against the Temporal dev server, PyKMIP and cfssl that the
 *    global setup starts on loopback. Test files run one after another in one process: they share
 *    those servers.
 *
 * Which file goes where: a file is in the unit tier when its path (under test/) starts with one of
 * UNIT below, unless it is named `*.integration.test.ts` (always integration). Anything not listed
 * is integration, so a new test file gets the servers until someone lists it here.
 */
const UNIT = [
  'cli/answer-examples',
  'cli/fleet-cert-files',
  'cli/fleet-outcome',
  'cli/input-file-bounded',
  'cli/renew-flags',
  'cli/replace-internal-key',
  'cli/retrying-step',
  'cli/signer-input',
  'cli/run-failure-message',
  'cli/watch-flags',
  'codec/',
  'config/',
  'console/console-offline',
  'deploy/',
  'demo/worker-log',
  'element/',
  'kmip/client-failures',
  'kmip/messages',
  'kmip/ttlv',
  'notify/',
  'pki/',
  'report/',
  'plan/plans',
  'runbooks/recover-classify',
  'runbooks/renew-precheck',
  'simulator/async-drives-faults',
  'simulator/certificate-renewal',
  'simulator/fleet-dir-lock',
  'simulator/hardware-encryption',
  'simulator/key-management',
  'simulator/persistence',
  'simulator/protocol',
  'simulator/transient-faults',
  'worker/',
  'workflows/replay',
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const unitTest = `/test/(?:${UNIT.map(escape).join('|')}).*(?<!\\.integration)\\.test\\.ts$`;

const common = {
  testEnvironment: '<rootDir>/test/support/environment.ts',
  roots: ['<rootDir>/test'],
  transform: {
    // tsconfig.test.json has isolatedModules: ts-jest only transpiles; `npx tsc -p tsconfig.test.json` type-checks.
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }],
  },
  setupFiles: ['<rootDir>/test/support/quiet-logs.ts'],
};

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testRegex: [unitTest],
    },
    {
      ...common,
      displayName: 'integration',
      testRegex: ['\\.test\\.ts$'],
      testPathIgnorePatterns: ['/node_modules/', unitTest],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
  // Global options (not per project). One file at a time, for the integration tier's shared servers;
  // scripts/test.sh runs the unit tier with two workers.
  testTimeout: 120000,
  maxWorkers: 1,
  verbose: false,
};
