import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { RUNBOOK_EVENT_KINDS, type RunbookEventKind } from '../notify/events';
import { readConfigFile } from './config-file';
import { ConfigError, describeZodError } from './zod-errors';
import { fileProblem } from './file-problem';

/** "escalated, waiting-for-input" -> the kinds; an unknown name is an issue naming it. */
const eventKindList = z.string().transform((text, ctx): RunbookEventKind[] => {
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !(RUNBOOK_EVENT_KINDS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown event kind(s) ${unknown.join(', ')}; known: ${RUNBOOK_EVENT_KINDS.join(', ')}`,
    });
  }
  return names as RunbookEventKind[];
});

/**
 * Settings of the worker and the CLI, from environment variables. Every problem names the
 * variable. TLS client certificates are for a Temporal server that requires mTLS.
 */
const runtimeFields = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^(?:[^\s:[\]]+|\[[0-9A-Fa-f:.]+\]):\d+$/, 'must be host:port (an IPv6 address in brackets: [::1]:7233)')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  EKM_TASK_QUEUE: z.string().min(1).default('ekm-runbooks'),
  EKM_CLUSTERS_FILE: z.string().min(1).default('clusters.yaml'),
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  EKM_WEBHOOK_URL: z.string().url('must be a URL').optional(),
  /** Only these notification kinds go to the webhook (all when unset); the log line always has all. */
  EKM_WEBHOOK_KINDS: eventKindList.optional(),
  /** A file holding the webhook's bearer token (a secret: never an environment value itself). */
  EKM_WEBHOOK_TOKEN_FILE: z.string().min(1).optional(),
  EKM_WORKFLOW_BUNDLE: z.string().min(1).optional(),
  EKM_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  /** Append one JSON line per Element API call here (for `ekm report`). */
  EKM_AUDIT_LOG: z.string().min(1).optional(),
  /**
   * Runbook runs the worker keeps in memory between their tasks (each about 5 MB of worker RSS as
   * measured by npm run bench:waiting); the others are replayed from history when they wake
   * (README, Configuration: worker sizing).
   */
  EKM_WORKER_CACHED_WORKFLOWS: z.coerce.number().int().min(2).max(100_000).default(20),
  /** Payload encryption keys (src/codec/payload-keys.ts); unset: payloads are not encrypted. */
  EKM_PAYLOAD_KEYS_FILE: z.string().min(1).optional(),
  /** host:port where the worker serves Prometheus metrics (worker/metrics.ts); unset: none. */
  EKM_METRICS_LISTEN: z
    .string()
    .regex(/^(?:[^\s:[\]]+|\[[0-9A-Fa-f:.]+\]):\d+$/, 'must be host:port, e.g. 0.0.0.0:9464')
    .optional(),
});

const runtimeSchema = runtimeFields.superRefine((env, ctx) => {
  if (Boolean(env.TEMPORAL_TLS_CERT) !== Boolean(env.TEMPORAL_TLS_KEY)) {
    ctx.addIssue({ code: 'custom', path: ['TEMPORAL_TLS_KEY'], message: 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together' });
  }
  if (env.TEMPORAL_TLS_SERVER_NAME && !env.TEMPORAL_TLS_CERT && !env.TEMPORAL_TLS_CA) {
    ctx.addIssue({
      code: 'custom',
      path: ['TEMPORAL_TLS_SERVER_NAME'],
      message: 'is set but TLS is off (it turns on with TEMPORAL_TLS_CA or TEMPORAL_TLS_CERT): the connection would be plaintext',
    });
  }
  for (const variable of ['EKM_WEBHOOK_KINDS', 'EKM_WEBHOOK_TOKEN_FILE'] as const) {
    if (env[variable] !== undefined && !env.EKM_WEBHOOK_URL) {
      ctx.addIssue({
        code: 'custom',
        path: [variable],
        message: 'is set but EKM_WEBHOOK_URL is not, so no webhook would be called',
      });
    }
  }
});

export type RuntimeSettings = z.infer<typeof runtimeSchema>;

/** Settings whose values are file paths: in a settings file they may be relative to that file. */
const PATH_SETTINGS = [
  'EKM_CLUSTERS_FILE',
  'TEMPORAL_TLS_CERT',
  'TEMPORAL_TLS_KEY',
  'TEMPORAL_TLS_CA',
  'EKM_WEBHOOK_TOKEN_FILE',
  'EKM_AUDIT_LOG',
  'EKM_WORKFLOW_BUNDLE',
  'EKM_PAYLOAD_KEYS_FILE',
] as const;

/**
 * EKM_CONFIG_FILE: a YAML (or JSON) mapping of the same setting names to values, for what a
 * deployment would rather keep in a file. The environment overrides it, setting by setting.
 */
function readSettingsFile(file: string): Record<string, string> {
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError('EKM_CONFIG_FILE', fileProblem(file, err));
  }
  const shape = z.strictObject(
    Object.fromEntries(
      Object.keys(runtimeFields.shape).map((key) => [key, z.union([z.string(), z.number()]).transform(String).optional()]),
    ),
  );
  const parsed = shape.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(`EKM_CONFIG_FILE ${file}`, describeZodError(parsed.error));
  const values = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) as Record<string, string>;
  for (const key of PATH_SETTINGS) if (values[key]) values[key] = path.resolve(path.dirname(file), values[key]);
  return values;
}

export function loadRuntimeSettings(env: NodeJS.ProcessEnv = process.env): RuntimeSettings {
  const fromFile = env.EKM_CONFIG_FILE ? readSettingsFile(env.EKM_CONFIG_FILE) : {};
  const picked = Object.fromEntries(
    Object.keys(runtimeFields.shape).map((key) => [key, env[key] === '' || env[key] === undefined ? fromFile[key] : env[key]]),
  );
  const parsed = runtimeSchema.safeParse(picked);
  if (!parsed.success) {
    const source = env.EKM_CONFIG_FILE ? `environment and EKM_CONFIG_FILE ${env.EKM_CONFIG_FILE}` : 'environment';
    throw new ConfigError(source, describeZodError(parsed.error));
  }
  return parsed.data;
}

export interface TemporalConnectionSettings {
  address: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
  };
}

function readFileSetting(variable: string, file: string): Buffer {
  return Buffer.from(readConfigFile(variable, file));
}

/** The connection options shared by Client and NativeConnection. */
export function temporalConnection(settings: RuntimeSettings): TemporalConnectionSettings {
  const useTls = settings.TEMPORAL_TLS_CERT || settings.TEMPORAL_TLS_CA;
  if (!useTls) return { address: settings.TEMPORAL_ADDRESS };
  return {
    address: settings.TEMPORAL_ADDRESS,
    tls: {
      serverNameOverride: settings.TEMPORAL_TLS_SERVER_NAME,
      serverRootCACertificate: settings.TEMPORAL_TLS_CA
        ? readFileSetting('TEMPORAL_TLS_CA', settings.TEMPORAL_TLS_CA)
        : undefined,
      clientCertPair:
        settings.TEMPORAL_TLS_CERT && settings.TEMPORAL_TLS_KEY
          ? {
              crt: readFileSetting('TEMPORAL_TLS_CERT', settings.TEMPORAL_TLS_CERT),
              key: readFileSetting('TEMPORAL_TLS_KEY', settings.TEMPORAL_TLS_KEY),
            }
          : undefined,
    },
  };
}
