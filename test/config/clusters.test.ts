import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  findCluster,
  loadClusterRegistry,
  parseClusterRegistry,
  readCaBundle,
  readClusterCredentials,
} from '../../src/config/clusters';
import { ConfigError } from '../../src/config/zod-errors';

const valid = `
clusters:
  prod-a:
    mvip: https://10.0.0.5
    apiVersion: "12.3"
    username: admin
    password: { env: EKM_TEST_PROD_A_PASSWORD }
    caBundle: certs/prod-a-ca.pem
  lab:
    mvip: https://127.0.0.1:8443
    apiVersion: "11.7"
    username: { file: secrets/lab-user }
    password: { file: secrets/lab-password }
    insecure: true
    responseTimeoutMs: 5000
signers:
  corp-ca:
    command: [/usr/local/bin/sign-csr, --profile, kmip]
`;

function problem(text: string): string {
  try {
    parseClusterRegistry(text, 'clusters.yaml', '/etc/ekm');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the registry to be refused');
}

function withCluster(fields: string): string {
  return `clusters:\n  c1:\n${fields
    .trim()
    .split('\n')
    .map((l) => `    ${l.trim()}`)
    .join('\n')}\n`;
}

const base = {
  mvip: 'mvip: https://10.0.0.5',
  apiVersion: 'apiVersion: "12.3"',
  username: 'username: admin',
  password: 'password: { env: PW }',
  ca: 'caBundle: ca.pem',
};
const entry = (overrides: Partial<Record<keyof typeof base | 'extra', string | null>>) =>
  withCluster(
    Object.entries({ ...base, ...overrides })
      .filter(([, v]) => v)
      .map(([, v]) => v)
      .join('\n'),
  );

describe('cluster registry', () => {
  it('loads a valid YAML file with defaults and paths resolved against its folder', () => {
    const registry = parseClusterRegistry(valid, 'clusters.yaml', '/etc/ekm');
    const prod = findCluster(registry, 'prod-a');
    expect(prod.mvip).toBe('https://10.0.0.5');
    expect(prod.caBundle).toBe('/etc/ekm/certs/prod-a-ca.pem');
    expect(prod.connectTimeoutMs).toBe(10_000);
    expect(prod.responseTimeoutMs).toBe(60_000);
    const lab = findCluster(registry, 'lab');
    expect(lab.insecure).toBe(true);
    expect(lab.password).toEqual({ file: '/etc/ekm/secrets/lab-password' });
    expect(lab.responseTimeoutMs).toBe(5000);
    expect(registry.signers['corp-ca']?.command[0]).toBe('/usr/local/bin/sign-csr');
  });

  it('resolves the kmipCheck identity files against the folder; no key attribute unless overridden', () => {
    const registry = parseClusterRegistry(
      entry({ extra: 'kmipCheck: { certificate: certs/check.pem, privateKey: { file: secrets/check.key } }' }),
      'clusters.yaml',
      '/etc/ekm',
    );
    expect(findCluster(registry, 'c1').kmipCheck).toEqual({
      certificate: '/etc/ekm/certs/check.pem',
      privateKey: { file: '/etc/ekm/secrets/check.key' },
    });
  });

  it('takes an explicit keyAttribute override, filling in what it leaves out', () => {
    const registry = parseClusterRegistry(
      entry({
        extra: 'kmipCheck: { certificate: c.pem, privateKey: { file: k.pem }, keyAttribute: { value: "solidfire-{keyID}" } }',
      }),
      'clusters.yaml',
      '/etc/ekm',
    );
    expect(findCluster(registry, 'c1').kmipCheck?.keyAttribute).toEqual({
      name: 'x-SolidFire-KeyID-{keyID}',
      value: 'solidfire-{keyID}',
    });
  });

  it('accepts JSON too', () => {
    const json = JSON.stringify({
      clusters: {
        c1: { mvip: 'https://127.0.0.1:9000', apiVersion: '12.3', username: 'admin', password: { env: 'X' }, insecure: true },
      },
    });
    expect(findCluster(parseClusterRegistry(json, 'c.json', '/'), 'c1').mvip).toBe('https://127.0.0.1:9000');
  });

  it.each([
    ['a missing mvip', entry({ mvip: null }), 'clusters.c1.mvip'],
    ['a malformed mvip', entry({ mvip: 'mvip: 10.0.0.5' }), 'clusters.c1.mvip: must be a URL'],
    ['a plain http mvip', entry({ mvip: 'mvip: http://10.0.0.5' }), 'clusters.c1.mvip: must start with https://'],
    ['a bad apiVersion', entry({ apiVersion: 'apiVersion: twelve' }), 'clusters.c1.apiVersion: must look like "12.3"'],
    ['a literal password', entry({ password: 'password: hunter2' }), 'clusters.c1.password'],
    ['a bad env var name', entry({ password: 'password: { env: "1BAD" }' }), 'clusters.c1.password.env'],
    ['no CA and not insecure', entry({ ca: null }), 'clusters.c1.caBundle: is required to verify the cluster certificate'],
    ['caBundle and insecure together', entry({ extra: 'insecure: true' }), 'clusters.c1.insecure: cannot be combined'],
    ['insecure: false', entry({ ca: 'insecure: false' }), 'clusters.c1.insecure'],
    ['an unknown field', entry({ extra: 'pasword: x' }), 'pasword'],
    ['a negative timeout', entry({ extra: 'connectTimeoutMs: -1' }), 'clusters.c1.connectTimeoutMs'],
    [
      'the old kmipCheck keyName',
      entry({ extra: 'kmipCheck: { certificate: c.pem, privateKey: { file: k.pem }, keyName: "SolidFire-{keyID}" }' }),
      'clusters.c1.kmipCheck.keyName: is no longer used: the check finds a key by its x-SolidFire-KeyID-<keyID> attribute (see keyAttribute)',
    ],
    [
      'a kmipCheck keyAttribute name that is not a custom attribute',
      entry({ extra: 'kmipCheck: { certificate: c.pem, privateKey: { file: k.pem }, keyAttribute: { name: "KeyID-{keyID}" } }' }),
      'clusters.c1.kmipCheck.keyAttribute.name: must start with x- (a client custom attribute)',
    ],
    [
      'a kmipCheck keyAttribute without {keyID}',
      entry({
        extra: 'kmipCheck: { certificate: c.pem, privateKey: { file: k.pem }, keyAttribute: { name: "x-a", value: "b" } }',
      }),
      'clusters.c1.kmipCheck.keyAttribute: name or value must contain {keyID}',
    ],
    [
      'a literal kmipCheck private key',
      entry({ extra: 'kmipCheck: { certificate: c.pem, privateKey: "-----BEGIN PRIVATE KEY-----" }' }),
      'clusters.c1.kmipCheck.privateKey',
    ],
    ['a bad cluster name', valid.replace('prod-a:', 'Prod A:'), 'clusters.Prod A'],
    ['no clusters key', 'signers: {}', 'clusters'],
    ['invalid YAML', 'clusters: [', 'not valid YAML at line 1, column 12: '],
    ['a YAML alias without its anchor', 'clusters: *all', 'a YAML alias (*name) names no anchor (&name) set before it'],
  ])('refuses %s, naming the field', (_case, text, expected) => {
    expect(problem(text)).toContain(expected);
  });

  it('never echoes a literal password value in its error', () => {
    expect(problem(entry({ password: 'password: hunter2' }))).not.toContain('hunter2');
  });

  it('names the unknown cluster and lists the known ones', () => {
    const registry = parseClusterRegistry(valid, 'clusters.yaml', '/etc/ekm');
    expect(() => findCluster(registry, 'nope')).toThrow('unknown cluster "nope" (known: lab, prod-a)');
  });

  describe('reading secrets at run time', () => {
    let dir: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-config-'));
      fs.mkdirSync(path.join(dir, 'secrets'));
      fs.writeFileSync(path.join(dir, 'secrets/lab-user'), 'labadmin\n');
      fs.writeFileSync(path.join(dir, 'secrets/lab-password'), 's3cret\n');
      fs.writeFileSync(path.join(dir, 'clusters.yaml'), valid);
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('reads credentials from files (trailing newline dropped) and from the environment', () => {
      const registry = loadClusterRegistry(path.join(dir, 'clusters.yaml'));
      expect(readClusterCredentials('lab', findCluster(registry, 'lab'))).toEqual({ username: 'labadmin', password: 's3cret' });
      process.env.EKM_TEST_PROD_A_PASSWORD = 'from-env';
      try {
        expect(readClusterCredentials('prod-a', findCluster(registry, 'prod-a'))).toEqual({
          username: 'admin',
          password: 'from-env',
        });
      } finally {
        delete process.env.EKM_TEST_PROD_A_PASSWORD;
      }
    });

    it('names the missing variable or file', () => {
      const registry = loadClusterRegistry(path.join(dir, 'clusters.yaml'));
      expect(() => readClusterCredentials('prod-a', findCluster(registry, 'prod-a'))).toThrow(
        'clusters.prod-a.password: environment variable EKM_TEST_PROD_A_PASSWORD is not set',
      );
      expect(() => readCaBundle('prod-a', findCluster(registry, 'prod-a'))).toThrow(
        `clusters.prod-a.caBundle: file ${path.join(dir, 'certs/prod-a-ca.pem')} does not exist`,
      );
    });

    it('says when the clusters file itself cannot be read', () => {
      expect(() => loadClusterRegistry(path.join(dir, 'missing.yaml'))).toThrow(
        `the clusters file: file ${path.join(dir, 'missing.yaml')} does not exist`,
      );
    });
  });
});
