import { NativeConnection } from '@temporalio/worker';
import { parseClusterRegistry } from '../../src/config/clusters';
import { loadRuntimeSettings } from '../../src/config/runtime';
import { describeStartProblem } from '../../worker/start-problem';

const settings = { TEMPORAL_ADDRESS: '127.0.0.1:1', TEMPORAL_NAMESPACE: 'default' };

/** The error the worker's connection really raises for these options (no server needed: each fails before or at connect). */
async function connectError(options: Parameters<typeof NativeConnection.connect>[0]): Promise<unknown> {
  try {
    const connection = await NativeConnection.connect(options);
    await connection.close();
  } catch (err) {
    return err;
  }
  throw new Error('expected the connection to fail');
}

describe("the worker's start problems in words (worker/start-problem.ts)", () => {
  it('a Temporal that cannot be reached: exit 5, the address and why, not the core library text', async () => {
    const refused = describeStartProblem(await connectError({ address: '127.0.0.1:1' }), settings);
    expect(refused).toEqual({ message: 'cannot reach Temporal at 127.0.0.1:1 (connection refused)', exitCode: 5 });
    const dns = describeStartProblem(await connectError({ address: 'nosuchhost.invalid:7233' }), {
      ...settings,
      TEMPORAL_ADDRESS: 'nosuchhost.invalid:7233',
    });
    expect(dns).toEqual({ message: 'cannot reach Temporal at nosuchhost.invalid:7233 (the host name does not resolve)', exitCode: 5 });
  });

  it('a TLS key that is not a key names TEMPORAL_TLS_KEY (exit 2)', async () => {
    const err = await connectError({
      address: '127.0.0.1:1',
      tls: { clientCertPair: { crt: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'), key: Buffer.from('garbage') } },
    });
    const problem = describeStartProblem(err, settings);
    expect(problem.exitCode).toBe(2);
    expect(problem.message).toMatch(/^TEMPORAL_TLS_KEY: /);
    expect(problem.message).not.toContain('tonic');
  });

  it('a setting or file with a mistake is said as it is (exit 2), even when its words mention connecting', () => {
    let clustersError: unknown;
    try {
      parseClusterRegistry(
        'clusters:\n  c1:\n    mvip: https://10.0.0.5\n    username: admin\n    password: { env: PW }\n    connectTimeoutMs: -1\n',
        'clusters.yaml',
        '/tmp',
      );
    } catch (err) {
      clustersError = err;
    }
    const problem = describeStartProblem(clustersError, settings);
    expect(problem.exitCode).toBe(2);
    expect(problem.message).toContain('clusters.c1.connectTimeoutMs');
    expect(problem.message).not.toContain('cannot reach Temporal');
    let settingsError: unknown;
    try {
      loadRuntimeSettings({ TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' });
    } catch (err) {
      settingsError = err;
    }
    expect(describeStartProblem(settingsError, undefined)).toEqual({
      message: expect.stringContaining('TEMPORAL_TLS_SERVER_NAME: is set but TLS is off'),
      exitCode: 2,
    });
  });
});
