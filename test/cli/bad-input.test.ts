/**
 * Every bad input is refused before anything starts: exit 2 naming the field (3 for a name that
 * does not exist), no workflow started and no call to the cluster (the simulator's call log).
 * The reproduced cases and the kinds they stand for: an unknown signer name; control characters
 * in a subject field or a name; an --input file that is not YAML (file, line, column); a provider
 * given as a number that is not a positive id; a clusters file with an unquoted apiVersion.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { runCli } from '../support/cli';
import { startClusterHarness, type ClusterHarness } from '../support/cluster-harness';
import { testEnv } from '../support/test-env';
import { connectClient, uniqueTaskQueue } from '../support/worker';

describe('bad input is refused before anything starts (real Temporal, simulator)', () => {
  const taskQueue = uniqueTaskQueue('bad-input');
  let harness: ClusterHarness;
  let temporal: Awaited<ReturnType<typeof connectClient>>;
  let clustersFile: string;
  let kmipCa: string;

  beforeAll(async () => {
    harness = await startClusterHarness('bad-input', { softwareEncryptionAtRest: true });
    temporal = await connectClient();
    // A clusters file that knows the cluster and one signer.
    clustersFile = path.join(harness.dir, 'clusters-with-signer.yaml');
    fs.writeFileSync(
      clustersFile,
      YAML.stringify({ ...harness.registry, signers: { 'corp-ca': { command: ['/bin/false'], timeoutMs: 1000 } } }),
    );
    kmipCa = path.join(harness.dir, 'kmip-ca.pem');
    fs.writeFileSync(kmipCa, testEnv().kmip.caPem);
  });
  afterAll(async () => {
    await temporal?.close();
    await harness?.stop();
  });

  const env = () => ({ EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: clustersFile });
  const setupFlags = (...extra: string[]) => [
    'setup',
    harness.name,
    '--cn',
    'bad-input.example.test',
    '--provider-name',
    'kmip-1',
    '--server-name',
    'pykmip-1',
    '--hostname',
    testEnv().kmip.host,
    '--kmip-ca',
    kmipCa,
    '--mode',
    'none',
    ...extra,
  ];

  /** Runs the CLI; asserts the exit code, the words of the refusal, that no workflow started on the task queue and no cluster call was made. */
  async function refused(args: string[], code: number, ...words: string[]) {
    const callsBefore = (await harness.sim.control.calls()).length;
    const cli = await runCli(args, env());
    expect([args.join(' '), cli.code]).toEqual([args.join(' '), code]);
    for (const word of words) expect([args.join(' '), cli.stderr]).toEqual([args.join(' '), expect.stringContaining(word)]);
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    const started = [];
    for await (const run of temporal.client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) started.push(run.workflowId);
    expect(started).toEqual([]);
    expect((await harness.sim.control.calls()).length).toBe(callsBefore);
  }

  it('a signer name the clusters file does not have (exit 2, naming the known signers)', async () => {
    await refused(
      setupFlags('--signer', 'command', '--signer-name', 'evil'),
      2,
      '--signer-name',
      'no signer "evil"',
      'signers: corp-ca',
    );
  });

  it('control characters in a subject field or a name (exit 2, naming the field)', async () => {
    await refused(setupFlags('--org', 'Ex\x07ample\nInc'), 2, '--org', 'printable');
    await refused(setupFlags('--locality', 'Tab\there'), 2, '--locality', 'printable');
    await refused([...setupFlags(), '--provider-name', 'kmip\u001bx'], 2, '--provider-name', 'printable');
    await refused(setupFlags('--ou', 'x'.repeat(65)), 2, '--ou', 'at most 64');
  });

  it('an --input file that is not YAML (exit 2, naming the file, line and column)', async () => {
    const bad = path.join(harness.dir, 'bad.yaml');
    fs.writeFileSync(bad, 'subject:\n  commonName: x\n  organization: [unclosed\nmode: none\n');
    await refused(['setup', harness.name, '--input', bad], 2, `--input ${bad}`, 'line ', 'column ');
  });

  it('durations without a unit or beyond a year, an empty --input file, flags that do not go with an answer (exit 2)', async () => {
    await refused(setupFlags('--signing-deadline', '5'), 2, '--signing-deadline', 'needs a unit, like 5s');
    await refused(setupFlags('--test-interval', '400d'), 2, '--test-interval', 'longer than');
    await refused(['watch', 'start', harness.name, '--interval', '60'], 2, '--interval', 'needs a unit');
    await refused(['rekey', harness.name, '--timeout', '30'], 2, '--timeout', 'needs a unit');
    const empty = path.join(harness.dir, 'empty.yaml');
    fs.writeFileSync(empty, '');
    await refused(['setup', harness.name, '--input', empty], 2, `--input ${empty}: must hold the setup's fields`);
    await refused(
      ['setup', harness.name, '--cn', 'x'],
      2,
      '--provider-name: is required',
      '--hostname: is required',
      '--kmip-ca: is required',
    );
    await refused(['answer', 'ekm-setup-x', 'retry', '--extend-by', '3d'], 2, 'retry: --extend-by does not go with retry');
    await refused(['answer', 'ekm-setup-x', 'change', '--hostnames', 'bad host!,x'], 2, 'change: --hostnames');
    await refused(['answer', 'ekm-setup-x', 'abort', '--reason', 'multi\nline\u001b[31m'], 2, 'abort: --reason', 'printable');
    await refused(['answer', 'ekm-recover-slice-x', 'change', '--drives', '12,12'], 2, 'change: --drives', 'names a drive more than once');
    await refused(['recover', harness.name, 'slice', '--drives', '7,7'], 2, '--drives', 'names a drive more than once');
  });

  it('a provider given as a number that is not a positive id, or a name that cannot exist (exit 2)', async () => {
    await refused(['rekey', harness.name, '--provider', '-3'], 2, 'provider', 'positive id');
    await refused(['rekey', harness.name, '--provider', '0'], 2, 'provider', 'positive id');
    await refused(['rekey', harness.name, '--provider', 'x'.repeat(65)], 2, 'provider', 'at most 64');
  });

  it('a cluster the clusters file does not have (exit 3)', async () => {
    await refused(['rekey', 'no-such-cluster'], 3, 'no-such-cluster');
  });

  it('a fleet that does not exist: cancel and resume say so (exit 3), not the SDK message', async () => {
    await refused(['fleet', 'cancel', 'ekm-fleet-rekey-no-such'], 3, 'no run ekm-fleet-rekey-no-such');
    await refused(['fleet', 'resume', 'ekm-fleet-rekey-no-such', '--max-errors', '1'], 3, 'no run ekm-fleet-rekey-no-such');
  });

  it('fleet csr --out where a file is in the way (exit 2, naming --out), before asking Temporal', async () => {
    const file = path.join(harness.dir, 'a-file');
    fs.writeFileSync(file, '');
    await refused(['fleet', 'csr', 'ekm-fleet-setup-no-such', '--out', file], 2, `--out ${file}`, 'a file is in the way');
    await refused(
      ['fleet', 'csr', 'ekm-fleet-setup-no-such', '--out', path.join(file, 'csrs')],
      2,
      '--out',
      'a file is in the way',
    );
  });

  it('fleet: a certs folder that is missing or a file, a run id given for a fleet, a fleet --id too long (in words)', async () => {
    const missing = path.join(harness.dir, 'no-such-dir');
    await refused(['fleet', 'submit-certs', 'ekm-fleet-setup-x', missing], 2, `${missing}: no such folder`);
    const file = path.join(harness.dir, 'certs-file');
    fs.writeFileSync(file, '');
    await refused(['fleet', 'submit-certs', 'ekm-fleet-setup-x', file], 2, `${file}: is a file, not a folder`);
    await refused(
      ['fleet', 'status', 'ekm-rekey-some-cluster'],
      3,
      'ekm-rekey-some-cluster is not a fleet',
      'ekm status ekm-rekey-some-cluster',
    );
    await refused(
      ['fleet', 'rekey', '--all', '--id', 'a'.repeat(42)],
      2,
      '--id: ',
      'is 42 characters long; a fleet id has at most 41',
    );
    await refused(
      ['fleet', 'rekey', '--all', '--max-concurrency', '1000000'],
      2,
      '--max-concurrency: "1000000" is more than 100000',
    );
  });

  it("fleet setup: a --cn with {cluster} too long once a cluster's name is in it (exit 2, naming the cluster)", async () => {
    // setup's flags, the cluster taken by the fleet's selector instead.
    const flags = setupFlags().slice(2);
    flags[flags.indexOf('--cn') + 1] = `{cluster}.${'x'.repeat(60)}`;
    await refused(
      ['fleet', 'setup', '--clusters', harness.name, ...flags],
      2,
      '--cn',
      `(cluster ${harness.name}, with {cluster} = ${harness.name})`,
    );
  });

  it('a clusters file with an unquoted apiVersion says to quote it (exit 2)', async () => {
    const unquoted = path.join(harness.dir, 'unquoted.yaml');
    fs.writeFileSync(unquoted, fs.readFileSync(clustersFile, 'utf8').replace(/apiVersion: "?([\d.]+)"?/, 'apiVersion: 12.0'));
    const callsBefore = (await harness.sim.control.calls()).length;
    const cli = await runCli(['rekey', harness.name], { EKM_TASK_QUEUE: taskQueue, EKM_CLUSTERS_FILE: unquoted });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('apiVersion: is the number 12: quote it, e.g. apiVersion: "12.0"');
    expect((await harness.sim.control.calls()).length).toBe(callsBefore);
  });
});
