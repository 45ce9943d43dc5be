import { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { CertificateInputError, normalizeCaBundle, normalizeClientCertificate } from '../pki/certificate-input';
import { ConfigError, describeZodError } from './zod-errors';
import { fileProblem } from './file-problem';
import { InputTextProblem, parseYamlOrJson } from './yaml-input';

/**
 * The cluster registry: cluster name -> how to reach its management API. It holds references to
 * credentials (an environment variable or a file), never the secrets themselves, so workflow
 * inputs and history carry only the cluster name.
 */

const secretReference = z.union(
  [
    z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name') }),
    z.strictObject({ file: z.string().min(1, 'must be a file path') }),
  ],
  { error: 'must be { env: VARIABLE } or { file: PATH }, never the secret itself' },
);
export type SecretReference = z.infer<typeof secretReference>;

const apiVersion = z.unknown().transform((value, ctx): string => {
  // YAML reads 12.0 as the number 12: the text the operator wrote is gone, so ask for quotes.
  if (typeof value === 'number') {
    const shown = Number.isInteger(value) ? value.toFixed(1) : String(value);
    ctx.addIssue({ code: 'custom', message: `is the number ${value}: quote it, e.g. apiVersion: "${shown}"` });
  } else if (typeof value !== 'string' || !/^\d+\.\d+$/.test(value)) {
    ctx.addIssue({ code: 'custom', message: 'must look like "12.3"' });
  }
  return value as string;
});

/**
 * How a key is found on the key server: the client custom attribute Element attaches to each key
 * it creates. Its name, x-SolidFire-KeyID-<keyID>, is documented; its value is not (UNCONFIRMED:
 * the keyID is assumed, as the simulator stores it). `{keyID}` stands for the cluster's keyID.
 */
export const DEFAULT_KEY_ATTRIBUTE = { name: 'x-SolidFire-KeyID-{keyID}', value: '{keyID}' } as const;

/**
 * A KMIP client identity the worker uses, read-only (Locate), to confirm that a new external
 * master key really is on the key server, not just that the cluster says so. The key server must
 * let this identity see the cluster's keys (with PyKMIP: the same certificate common name).
 */
const kmipCheck = z.strictObject({
  certificate: z.string().min(1, 'must be a file path (PEM client certificate, clientAuth)'),
  privateKey: secretReference,
  /**
   * An explicit override, only for a cluster whose keys carry the attribute differently (e.g.
   * another value): what the check Locates. Default DEFAULT_KEY_ATTRIBUTE.
   */
  keyAttribute: z
    .strictObject({
      name: z.string().startsWith('x-', 'must start with x- (a client custom attribute)').default(DEFAULT_KEY_ATTRIBUTE.name),
      value: z.string().min(1, 'must not be empty').default(DEFAULT_KEY_ATTRIBUTE.value),
    })
    .refine((a) => a.name.includes('{keyID}') || a.value.includes('{keyID}'), 'name or value must contain {keyID}')
    .optional(),
  keyName: z
    .never({ error: 'is no longer used: the check finds a key by its x-SolidFire-KeyID-<keyID> attribute (see keyAttribute)' })
    .optional(),
});

/** A label's name, e.g. `site`, `env`, `rack-row`. */
export const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const clusterEntry = z
  .strictObject({
    mvip: z
      .string()
      .url('must be a URL like https://10.0.0.5')
      .refine((u) => u.startsWith('https://'), 'must start with https:// (the Element API is HTTPS only)'),
    apiVersion,
    username: z.union([z.string().min(1), secretReference], {
      error: 'must be a user name, { env: VARIABLE } or { file: PATH }',
    }),
    password: secretReference,
    caBundle: z.string().min(1, 'must be a file path').optional(),
    insecure: z.literal(true, { error: 'must be true when present (leave it out to verify TLS)' }).optional(),
    connectTimeoutMs: z.number().int().positive().default(10_000),
    responseTimeoutMs: z.number().int().positive().default(60_000),
    kmipCheck: kmipCheck.optional(),
    /** Fleet selection (`ekm fleet ... --label site=ams`): free key/value pairs, e.g. site, env. */
    labels: z
      .record(
        z.string().regex(LABEL_KEY, 'label names are letters, digits, dots, dashes and underscores'),
        z.union([z.string(), z.number(), z.boolean()], { error: 'must be a text, number or true/false' }).transform(String),
      )
      .optional(),
  })
  .superRefine((entry, ctx) => {
    if (!entry.caBundle && !entry.insecure) {
      ctx.addIssue({
        code: 'custom',
        path: ['caBundle'],
        message: 'is required to verify the cluster certificate (or set insecure: true explicitly)',
      });
    }
    if (entry.caBundle && entry.insecure) {
      ctx.addIssue({ code: 'custom', path: ['insecure'], message: 'cannot be combined with caBundle' });
    }
  });

const CLUSTER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A command the worker runs to sign a CSR: reads the CSR PEM on stdin, prints the certificate PEM. */
const signerCommand = z.strictObject({
  command: z.array(z.string().min(1)).min(1, 'must name the program to run'),
  /** The CA certificate(s) that issue, when the command prints only the certificate. */
  caBundle: z.string().min(1, 'must be a file path').optional(),
  timeoutMs: z.number().int().positive().default(120_000),
});

export const clusterRegistrySchema = z
  .strictObject({
    clusters: z.record(z.string(), clusterEntry, { error: 'must map cluster names to their settings' }),
    /** Named signing commands, so a workflow input can say which one without carrying a command line. */
    signers: z.record(z.string().min(1), signerCommand).default({}),
  })
  .superRefine((registry, ctx) => {
    for (const name of Object.keys(registry.clusters)) {
      if (!CLUSTER_NAME.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['clusters', name],
          message: 'cluster names are lowercase letters, digits and dashes',
        });
      }
    }
  });

export type ClusterEntry = z.infer<typeof clusterEntry>;
export type ClusterRegistry = z.infer<typeof clusterRegistrySchema>;
export type SignerCommand = z.infer<typeof signerCommand>;

/** Parses registry text (YAML, or JSON in a .json file: src/config/yaml-input.ts). Relative file paths resolve against baseDir. */
export function parseClusterRegistry(text: string, source: string, baseDir: string): ClusterRegistry {
  let raw: unknown;
  try {
    raw = parseYamlOrJson(text, source, { allowAliases: true }); // a kept file: anchors save repeating entries
  } catch (err) {
    if (err instanceof InputTextProblem) throw new ConfigError(source, err.detail);
    throw err;
  }
  const parsed = clusterRegistrySchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, describeZodError(parsed.error));
  const registry = parsed.data;
  for (const signer of Object.values(registry.signers)) {
    if (signer.caBundle) signer.caBundle = path.resolve(baseDir, signer.caBundle);
  }
  for (const entry of Object.values(registry.clusters)) {
    if (entry.caBundle) entry.caBundle = path.resolve(baseDir, entry.caBundle);
    if ('file' in entry.password) entry.password = { file: path.resolve(baseDir, entry.password.file) };
    if (typeof entry.username === 'object' && 'file' in entry.username) {
      entry.username = { file: path.resolve(baseDir, entry.username.file) };
    }
    if (entry.kmipCheck) {
      entry.kmipCheck.certificate = path.resolve(baseDir, entry.kmipCheck.certificate);
      if ('file' in entry.kmipCheck.privateKey)
        entry.kmipCheck.privateKey = { file: path.resolve(baseDir, entry.kmipCheck.privateKey.file) };
    }
  }
  return registry;
}

export function loadClusterRegistry(file: string): ClusterRegistry {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('the clusters file', fileProblem(file, err));
  }
  return parseClusterRegistry(text, file, path.dirname(path.resolve(file)));
}

export function findCluster(registry: ClusterRegistry, name: string): ClusterEntry {
  const entry = registry.clusters[name];
  if (!entry) {
    const known = Object.keys(registry.clusters).sort().join(', ') || 'none';
    throw new ConfigError('cluster', `unknown cluster "${name}" (known: ${known})`);
  }
  return entry;
}

/** Reads a secret at run time (inside activities only). The value never goes into a workflow payload. */
export function readSecret(reference: SecretReference, field: string): string {
  if ('env' in reference) {
    const value = process.env[reference.env];
    if (value === undefined || value === '') {
      throw new ConfigError(field, `environment variable ${reference.env} is not set`);
    }
    return value;
  }
  try {
    return fs.readFileSync(reference.file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(field, `secret ${fileProblem(reference.file, err)}`);
  }
}

export interface ClusterCredentials {
  username: string;
  password: string;
}

export function readClusterCredentials(name: string, entry: ClusterEntry): ClusterCredentials {
  const username = typeof entry.username === 'string' ? entry.username : readSecret(entry.username, `clusters.${name}.username`);
  return { username, password: readSecret(entry.password, `clusters.${name}.password`) };
}

/** The cluster's CA bundle as clean PEM (any shape a CA hands out: PEM as pasted, DER, PKCS#7). */
export function readCaBundle(name: string, entry: ClusterEntry): string | undefined {
  if (!entry.caBundle) return undefined;
  const field = `clusters.${name}.caBundle`;
  return certificateFile(field, entry.caBundle, (data) => normalizeCaBundle(data, entry.caBundle!, { privateKeys: 'ignore' }));
}

/** Reads a certificate file a setting names; what is wrong with it is a ConfigError naming the setting. */
function certificateFile(field: string, file: string, read: (data: Buffer) => string): string {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(field, fileProblem(file, err));
  }
  try {
    return read(data);
  } catch (err) {
    if (err instanceof CertificateInputError) throw new ConfigError(field, err.message);
    throw err;
  }
}

export interface KmipCheckIdentity {
  certificatePem: string;
  privateKeyPem: string;
  /** What to Locate, with {keyID} still in it. */
  keyAttribute: { name: string; value: string };
}

/** The kmipCheck identity, read at run time (inside activities only); undefined when none is configured. */
export function readKmipCheckIdentity(name: string, entry: ClusterEntry): KmipCheckIdentity | undefined {
  const check = entry.kmipCheck;
  if (!check) return undefined;
  const privateKeyPem = readSecret(check.privateKey, `clusters.${name}.kmipCheck.privateKey`);
  let publicKey: Buffer | undefined;
  try {
    publicKey = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
  } catch {
    // An unreadable key is reported where it is used (the KMIP client names it).
  }
  const field = `clusters.${name}.kmipCheck.certificate`;
  const certificatePem = certificateFile(field, check.certificate, (data) =>
    publicKey
      ? normalizeClientCertificate(data, check.certificate, publicKey)
      : normalizeCaBundle(data, check.certificate, { privateKeys: 'ignore' }),
  );
  return { certificatePem, privateKeyPem, keyAttribute: check.keyAttribute ?? { ...DEFAULT_KEY_ATTRIBUTE } };
}
