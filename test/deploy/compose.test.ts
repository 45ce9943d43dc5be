import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import YAML from 'yaml';
import { loadPayloadKeys } from '../../src/codec/payload-keys';
import { parseClusterRegistry } from '../../src/config/clusters';
import { loadRuntimeSettings } from '../../src/config/runtime';
import { usersFileSchema } from '../../src/console/auth';
import { composeSchemaFile } from '../../tools/devenv/tools';

const root = path.resolve(__dirname, '../..');
const composeFile = path.join(root, 'docker-compose.yml');

interface Service {
  build?: { context: string; dockerfile?: string };
  volumes?: string[];
  environment?: Record<string, string>;
  entrypoint?: string[];
  user?: string;
}

const compose = YAML.parse(fs.readFileSync(composeFile, 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  secrets?: Record<string, { file?: string; environment?: string }>;
  volumes?: Record<string, unknown>;
};

/** ${VAR:-default} -> default, ${VAR:?msg} / ${VAR} -> a placeholder, as compose would with VAR set. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z_]+)(?::?([-?])([^}]*))?\}/g, (_m, _name: string, op?: string, arg?: string) =>
    op === '-' ? (arg ?? '') : 'set-by-operator',
  );
}

describe('docker-compose.yml', () => {
  it('follows the Compose specification schema (compose-go)', () => {
    const schemaFile = composeSchemaFile();
    expect(fs.existsSync(schemaFile)).toBe(true);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, 'utf8')));
    // Compose resolves YAML merge keys (<<) and extension fields before it validates.
    const valid = validate(YAML.parse(fs.readFileSync(composeFile, 'utf8'), { merge: true }));
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('is checked for real: the schema refuses a broken service', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(fs.readFileSync(composeSchemaFile(), 'utf8')));
    expect(validate({ services: { worker: { image: 'x', restart: 42, bogus: true } } })).toBe(false);
  });

  it('references only files that exist', () => {
    const missing: string[] = [];
    const check = (relative: string, from: string) => {
      const full = path.resolve(root, relative);
      if (!fs.existsSync(full)) missing.push(`${from}: ${relative}`);
    };
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.build) {
        check(service.build.context, `${name}.build.context`);
        check(path.join(service.build.context, service.build.dockerfile ?? 'Dockerfile'), `${name}.build.dockerfile`);
      }
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) check(source, `${name}.volumes`);
      }
    }
    for (const [name, secret] of Object.entries(compose.secrets ?? {})) if (secret.file) check(secret.file, `secrets.${name}`);
    expect(missing).toEqual([]);
  });

  it('gives the worker settings that the worker itself accepts, and a clusters file it can parse', () => {
    const worker = compose.services.worker!;
    const env = Object.fromEntries(Object.entries(worker.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));
    const settings = loadRuntimeSettings(env);
    expect(settings.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(settings.EKM_CLUSTERS_FILE).toBe('/etc/ekm/clusters.yaml');
    // The root filesystem is read-only: the audit log `ekm report` reads must sit on a declared volume the image lets `node` write.
    const auditDir = path.posix.dirname(settings.EKM_AUDIT_LOG ?? '');
    const auditVolume = (worker.volumes ?? []).find((v) => v.split(':')[1] === auditDir);
    expect(auditVolume).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(auditVolume!.split(':')[0]);
    expect(fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8')).toContain(`chown node:node ${auditDir}`);
    const mounted = (worker.volumes ?? []).find((v) => v.endsWith(':/etc/ekm/clusters.yaml:ro'))!;
    const clusters = parseClusterRegistry(
      fs.readFileSync(path.resolve(root, mounted.split(':')[0]!), 'utf8'),
      'deploy/clusters.yaml',
      '/etc/ekm',
    );
    // Each password the clusters file reads from /run/secrets is a secret the worker receives.
    for (const [name, entry] of Object.entries(clusters.clusters)) {
      if ('file' in entry.password && entry.password.file.startsWith('/run/secrets/')) {
        const secret = path.basename(entry.password.file);
        expect([name, Object.keys(compose.secrets ?? {})]).toEqual([name, expect.arrayContaining([secret])]);
      }
    }
  });

  it('runs the console from the same image with its users file and each token as secrets, over TLS beyond loopback', () => {
    const console_ = compose.services.console as Service & { command?: string[]; image?: string; secrets?: string[] };
    expect(console_.image).toBe((compose.services.worker as { image?: string }).image);
    const command = console_.command ?? [];
    expect(command.slice(0, 2)).toEqual(['ekm', 'console']);
    const flag = (name: string) => command[command.indexOf(name) + 1];
    expect(flag('--listen')).toBe('0.0.0.0:8090');
    expect(flag('--tls-cert')).toBeDefined();
    expect(flag('--tls-key')).toMatch(/^\/run\/secrets\//);
    const usersSecret = path.basename(flag('--users')!);
    const users = usersFileSchema.parse(
      YAML.parse(fs.readFileSync(path.resolve(root, compose.secrets![usersSecret]!.file!), 'utf8')),
    );
    for (const [name, user] of Object.entries(users.users)) {
      expect(user.tokenFile).toMatch(/^\/run\/secrets\//);
      expect([name, console_.secrets]).toEqual([name, expect.arrayContaining([usersSecret, path.basename(user.tokenFile)])]);
    }
  });

  it('encrypts payloads: the worker, the console and the codec server read one keys file whose key files are their secrets', () => {
    const keysFiles = new Set<string>();
    for (const name of ['worker', 'console', 'codec-server']) {
      const service = compose.services[name] as Service & { secrets?: string[] };
      const file = service.environment?.EKM_PAYLOAD_KEYS_FILE;
      expect([name, file]).toEqual([name, expect.stringMatching(/^\/etc\/ekm\//)]);
      const mounted = (service.volumes ?? []).find((v) => v.split(':')[1] === file)!;
      expect([name, mounted]).toEqual([name, expect.stringMatching(/:ro$/)]);
      const source = path.resolve(root, mounted.split(':')[0]!);
      keysFiles.add(source);
      // The keys file as the worker reads it, with the secrets where compose puts them (here: a scratch folder).
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-compose-keys-'));
      try {
        const text = fs.readFileSync(source, 'utf8');
        for (const [, secret] of text.matchAll(/\/run\/secrets\/([\w.-]+)/g)) {
          expect([name, service.secrets]).toEqual([name, expect.arrayContaining([secret])]);
          expect(compose.secrets?.[secret!]?.environment).toMatch(/^EKM_PAYLOAD_KEY_/);
          fs.writeFileSync(path.join(scratch, secret!), randomBytes(32).toString('base64'));
        }
        fs.writeFileSync(path.join(scratch, 'keys.yaml'), text.replaceAll('/run/secrets/', `${scratch}/`));
        expect(loadPayloadKeys(path.join(scratch, 'keys.yaml')).currentKeyId).toBeTruthy();
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
      }
    }
    expect(keysFiles.size).toBe(1);
    const codec = compose.services['codec-server'] as Service & { command?: string[]; image?: string };
    expect(codec.image).toBe((compose.services.worker as { image?: string }).image);
    expect(codec.command?.slice(0, 2)).toEqual(['ekm', 'codec-server']);
    for (const flag of ['--users', '--ui-origin', '--tls-cert', '--tls-key']) expect(codec.command).toContain(flag);
  });

  it('documents the worker metrics port without publishing it', () => {
    const worker = compose.services.worker as Service & { expose?: string[]; ports?: string[] };
    const listen = loadRuntimeSettings({ EKM_METRICS_LISTEN: worker.environment?.EKM_METRICS_LISTEN }).EKM_METRICS_LISTEN!;
    expect(worker.expose).toContain(listen.split(':').pop());
    expect(worker.ports ?? []).toEqual([]);
  });

  it('builds a worker image that runs as a non-root user from pre-bundled workflows', () => {
    const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const finalStage = dockerfile.split(/^FROM /m).pop()!;
    expect(finalStage).toMatch(/^USER node$/m);
    expect(finalStage).toContain('EKM_WORKFLOW_BUNDLE=/app/workflow-bundle.js');
    // The allocator the memory numbers were measured with (README Benchmarks) is the one installed and preloaded.
    const preloaded = /LD_PRELOAD=(\S+)/.exec(finalStage)?.[1];
    expect(preloaded).toBe('/usr/local/lib/libjemalloc.so.2');
    expect(finalStage).toMatch(/apt-get install [^\n]*libjemalloc2[^\n]*\n[^\n]*ln -s [^\n]* \/usr\/local\/lib\/libjemalloc\.so\.2/);
    expect(dockerfile).toContain('node dist/worker/bundle.js /app/workflow-bundle.js');
    for (const [, source] of dockerfile.matchAll(/^COPY (?!--from)(\S+)/gm))
      expect([source, fs.existsSync(path.join(root, source!))]).toEqual([source, true]);
    expect(fs.existsSync(path.join(root, 'worker/bundle.ts'))).toBe(true);
  });
});
