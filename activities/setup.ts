/**
 * The cluster-side steps of procedure 1 (set up external key management). Each creates by
 * "find by name, else create" or checks the cluster's state first, so a retry after a worker
 * died mid-call never duplicates a provider, a server or a key pair.
 */
import { ElementApiError, type ElementClient } from '../src/element';
import { Failure } from '../workflows/failures';
import type { KeyProviderKmip, KeyServerKmip } from '../src/element/objects';
import { checkSignedCertificate, normalizeCsrPem, summarizeCsr, type CertificateSummary } from '../src/pki/certificate-checks';
import { CertificateInputError, normalizeCaBundle, readCertificateInput } from '../src/pki/certificate-input';
import { ApplicationFailure } from '@temporalio/common';
import { DEFAULT_POLL, pollUntil, type PollSettings } from './async-jobs';
import type { ActivityContext } from './context';
import { describeDriveKeys, internalKeyToReplace, readHardwareEncryption, type HardwareEncryption } from './hardware-encryption';
import { refuse, withElement } from './element';

export type SetupMode = 'hardware' | 'software' | 'none';

export interface CertificateSubject {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
  locality?: string;
  state?: string;
  country?: string;
  emailAddress?: string;
}

export interface SetupPrecheck {
  apiVersion: string;
  /** Fingerprint of the cluster's key pair before this run (null: none, or not readable). */
  keyFingerprint: string | null;
  existingProvider?: { id: number; name: string; active: boolean };
  existingServer?: { id: number; name: string; assignedTo: number | null };
  /** Servers of active providers: their trust breaks if the key pair is replaced. */
  serversInUse: { id: number; name: string; providerId: number | null }[];
  encryptionAtRestState: string;
  /** Nothing left to do for this mode (provider already active and encryption on with it). */
  alreadyDone: boolean;
  /** replaceInternalKey: hardware encryption is on with the cluster's internal keys; the run disables it and enables it with the provider. */
  replacesInternalKey: boolean;
  /** What exists and will be reused, in words. */
  reuse: string[];
  /** The existing key server's certificate still serves the current key pair: no new key pair, CSR or signing. */
  reusableCertificate?: ReusableCertificate;
}

export interface ReusableCertificate {
  keyServerID: number;
  certificatePem: string;
  summary: CertificateSummary;
}

export interface KeyServerSpec {
  name: string;
  hostnames: string[];
  port: number;
  kmipCaCertificate: string;
  kmipClientCertificate: string;
}

const versionAtLeast = (version: string, minimum: string) => {
  const [a, b] = version.split('.').map(Number);
  const [c, d] = minimum.split('.').map(Number);
  return a! > c! || (a === c && b! >= d!);
};

const samePem = (a: string, b: string) => a.replace(/\s+/g, '') === b.replace(/\s+/g, '');

function single<T>(items: T[], what: string, name: string, id: (t: T) => number): T | undefined {
  if (items.length > 1) {
    throw refuse(
      Failure.AmbiguousName,
      `${items.length} ${what}s are named "${name}" (ids ${items.map(id).join(', ')}); rename or delete the extra ones`,
    );
  }
  return items[0];
}

/** The CSR for the cluster's current key pair; null when it has none. */
export async function readCurrentCsr(client: ElementClient): Promise<string | null> {
  try {
    const { clientCertificateSignRequest } = await client.call('GetClientCertificateSignRequest');
    return normalizeCsrPem(clientCertificateSignRequest);
  } catch (err) {
    // Without a key pair the cluster answers an error (its name is not documented).
    if (err instanceof ElementApiError && !err.retryable) return null;
    throw err;
  }
}

async function keyFingerprintOf(csrPem: string | null): Promise<string | null> {
  return csrPem === null ? null : (await summarizeCsr(csrPem)).keyFingerprint;
}

async function readKeyFingerprint(client: ElementClient): Promise<string | null> {
  return keyFingerprintOf(await readCurrentCsr(client));
}

/**
 * The key server's client certificate, when it still serves: the cluster's current public key,
 * clientAuth, 30+ days left. Then a new setup run keeps the key pair and skips the CA round.
 * (Who issued it is left to TestKeyServerKmip: the key server is the judge of that.)
 */
async function reusableCertificate(csrPem: string, server: KeyServerKmip): Promise<ReusableCertificate | undefined> {
  const verdict = await checkSignedCertificate(
    {
      csrPem,
      certificatePem: server.kmipClientCertificate,
      caChainPem: server.kmipCaCertificate,
      names: { certificate: 'kmipClientCertificate', ca: 'kmipCaCertificate' },
    },
    { checkChain: false },
  );
  if (verdict.problems.length > 0 || !verdict.summary) return undefined;
  return { keyServerID: server.keyServerID, certificatePem: server.kmipClientCertificate, summary: verdict.summary };
}

/** The key server's certificates as clean PEM: every CA of the KMIP CA bundle, and the client certificate alone. */
function cleanKeyServerCertificates(spec: KeyServerSpec): Pick<KeyServerSpec, 'kmipCaCertificate' | 'kmipClientCertificate'> {
  try {
    return {
      kmipCaCertificate: normalizeCaBundle(spec.kmipCaCertificate, 'kmipCaCertificate'),
      kmipClientCertificate: readCertificateInput(spec.kmipClientCertificate, 'kmipClientCertificate').certificates[0]!.pem,
    };
  } catch (err) {
    if (err instanceof CertificateInputError) throw refuse(Failure.InvalidInput, err.message);
    throw err;
  }
}

async function findProvider(client: ElementClient, name: string): Promise<KeyProviderKmip | undefined> {
  const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip', {});
  return single(
    kmipKeyProviders.filter((p) => p.keyProviderName === name),
    'key provider',
    name,
    (p) => p.keyProviderID,
  );
}

/**
 * A key provider holds one key server (a clustered key server is one server with several
 * hostnames): setup never attaches a second one, it refuses naming the one there.
 */
function refuseSecondServer(provider: KeyProviderKmip, keyServerID: number | undefined, keyServerName: string): void {
  const other = provider.keyServerIDs.find((id) => id !== keyServerID);
  if (other === undefined) return;
  throw refuse(
    Failure.KeyProviderHasOtherServer,
    `key provider ${provider.keyProviderID} "${provider.keyProviderName}" already holds key server ${other}, and a provider holds ` +
      `only one: set up with that server's name (a clustered key server is one server with several hostnames), or remove it ` +
      `from the provider first; key server "${keyServerName}" was not attached`,
  );
}

async function findServer(client: ElementClient, name: string): Promise<KeyServerKmip | undefined> {
  const { kmipKeyServers } = await client.call('ListKeyServersKmip', {});
  return single(
    kmipKeyServers.filter((s) => s.kmipKeyServerName === name),
    'key server',
    name,
    (s) => s.keyServerID,
  );
}

export interface SetupPrecheckInput {
  mode: SetupMode;
  keyProviderName: string;
  keyServerName: string;
  newKeyPair: boolean;
  commonName?: string;
  replaceInternalKey?: boolean;
}

/** What setup's precheck reads from the cluster (read-only methods only). */
export interface SetupClusterState {
  /** The API version the clusters file pins. */
  apiVersion: string;
  /** GetAPI supportedVersions. */
  supportedVersions: string[];
  /** GetClusterInfo encryptionAtRestState. */
  encryptionAtRestState: string;
  providers: KeyProviderKmip[];
  servers: KeyServerKmip[];
  /** Software mode on API 12.3+: GetSoftwareEncryptionAtRestInfo. */
  softwareEncryption?: { state: string; keyManagementType?: string; keyProviderID?: number };
  /** Hardware mode with encryption enabling or enabled: whose key the drives are under. */
  drives?: HardwareEncryption;
  /** The CSR of the cluster's key pair; null when it has none. */
  csrPem: string | null;
}

/**
 * Reads what setup's precheck needs, with read-only methods only (GetAPI, GetClusterInfo,
 * ListKeyProvidersKmip, ListKeyServersKmip, GetSoftwareEncryptionAtRestInfo for software mode,
 * ListDrives for hardware mode with encryption on, GetClientCertificateSignRequest).
 */
export async function readSetupState(client: ElementClient, input: SetupPrecheckInput): Promise<SetupClusterState> {
  const api = await client.call('GetAPI');
  const pinned = client.apiVersion;
  // A version the precheck refuses: nothing more is read (the methods may not exist there).
  if (!versionAtLeast(pinned, '11.7') || !api.supportedVersions.includes(pinned))
    return {
      apiVersion: pinned,
      supportedVersions: api.supportedVersions,
      encryptionAtRestState: 'unknown',
      providers: [],
      servers: [],
      csrPem: null,
    };
  const { clusterInfo } = await client.call('GetClusterInfo');
  const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip', {});
  const { kmipKeyServers } = await client.call('ListKeyServersKmip', {});
  let softwareEncryption: SetupClusterState['softwareEncryption'];
  if (input.mode === 'software' && versionAtLeast(pinned, '12.3') && api.supportedVersions.includes(pinned)) {
    const sear = await client.call('GetSoftwareEncryptionAtRestInfo');
    softwareEncryption = {
      state: sear.state,
      keyManagementType: sear.masterKeyInfo?.keyManagementType,
      keyProviderID: sear.masterKeyInfo?.keyProviderID,
    };
  }
  const state = clusterInfo.encryptionAtRestState;
  const drives =
    input.mode === 'hardware' && (state === 'enabled' || state === 'enabling') ? await readHardwareEncryption(client) : undefined;
  return {
    apiVersion: pinned,
    supportedVersions: api.supportedVersions,
    encryptionAtRestState: state,
    providers: kmipKeyProviders,
    servers: kmipKeyServers,
    softwareEncryption,
    drives,
    csrPem: await readCurrentCsr(client),
  };
}

/**
 * Setup's precheck without I/O: what the cluster supports and already has, and the refusals
 * (UnsupportedVersion, AmbiguousName, KeyProviderHasOtherServer, SoftwareEncryptionNotEnabled,
 * EncryptionAlreadyEnabled, KeyServersInUse; ClusterBusy, retryable, while encryption is
 * disabling or enabling), thrown as the ApplicationFailures the activity fails with.
 */
export async function assessSetup(cluster: string, s: SetupClusterState, input: SetupPrecheckInput): Promise<SetupPrecheck> {
  const pinned = s.apiVersion;
  if (!versionAtLeast(pinned, '11.7')) {
    throw refuse(
      Failure.UnsupportedVersion,
      `external key management needs Element API 11.7 or later; cluster ${cluster} is pinned to ${pinned}`,
    );
  }
  if (input.mode === 'software' && !versionAtLeast(pinned, '12.3')) {
    throw refuse(
      Failure.UnsupportedVersion,
      `the software encryption path needs Element API 12.3 or later; cluster ${cluster} is pinned to ${pinned}`,
    );
  }
  if (!s.supportedVersions.includes(pinned)) {
    throw refuse(
      Failure.UnsupportedVersion,
      `cluster ${cluster} does not serve API ${pinned} (supported: ${s.supportedVersions.join(', ')})`,
    );
  }
  const provider = single(
    s.providers.filter((p) => p.keyProviderName === input.keyProviderName),
    'key provider',
    input.keyProviderName,
    (p) => p.keyProviderID,
  );
  const server = single(
    s.servers.filter((x) => x.kmipKeyServerName === input.keyServerName),
    'key server',
    input.keyServerName,
    (x) => x.keyServerID,
  );
  if (provider) refuseSecondServer(provider, server?.keyServerID, input.keyServerName);
  const serversInUse = s.servers
    .filter((x) => x.kmipAssignedProviderIsActive === true)
    .map((x) => ({ id: x.keyServerID, name: x.kmipKeyServerName, providerId: x.keyProviderID }));
  let alreadyDone = false;
  if (input.mode === 'software') {
    const sear = s.softwareEncryption;
    if (sear?.state !== 'enabled') {
      throw refuse(
        Failure.SoftwareEncryptionNotEnabled,
        `software encryption at rest is ${sear?.state ?? 'unknown'} on cluster ${cluster}; it can only be enabled when the cluster is created`,
      );
    }
    alreadyDone =
      provider !== undefined && sear.keyManagementType === 'external' && sear.keyProviderID === provider.keyProviderID;
  }
  let replacesInternalKey = false;
  if (input.mode === 'hardware') {
    const state = s.encryptionAtRestState;
    const on = state === 'enabled' || state === 'enabling';
    // The provider is active for a software master key too: the drives' key tells whose hardware encryption it is.
    const drives = on ? s.drives : undefined;
    const ours = provider?.keyProviderIsActive === true && drives?.keyManagementType !== 'internal';
    if (on && !ours) replacesInternalKey = internalKeyToReplace(cluster, state, drives!, input);
    if (state === 'disabling')
      throw ApplicationFailure.retryable(`hardware encryption at rest is disabling on cluster ${cluster}`, Failure.ClusterBusy);
    alreadyDone = state === 'enabled' && ours;
  }
  if (serversInUse.length > 0 && !input.newKeyPair && !alreadyDone) {
    throw refuse(
      Failure.KeyServersInUse,
      `key servers ${serversInUse.map((x) => `${x.id} "${x.name}"`).join(', ')} of an active provider use the cluster's current key pair; ` +
        'replacing it would break their trust. Start the setup with an explicit request for a new key pair if that is intended',
    );
  }
  const reuse: string[] = [];
  if (provider)
    reuse.push(
      `key provider ${provider.keyProviderID} "${provider.keyProviderName}"${provider.keyProviderIsActive ? ' (active)' : ''}`,
    );
  if (server) reuse.push(`key server ${server.keyServerID} "${server.kmipKeyServerName}" (updated if its settings differ)`);
  const csrPem = s.csrPem;
  let certificate = server && csrPem && !input.newKeyPair ? await reusableCertificate(csrPem, server) : undefined;
  // A setup asking for another common name wants a new identity, not the old one.
  if (certificate && input.commonName && !certificate.summary.subject.split(/,\s*/).includes(`CN=${input.commonName}`))
    certificate = undefined;
  if (certificate) {
    reuse.push(
      `the cluster's key pair and key server ${server!.keyServerID}'s certificate (${certificate.summary.subject}, valid until ${certificate.summary.notAfter})`,
    );
  }
  return {
    apiVersion: pinned,
    keyFingerprint: await keyFingerprintOf(csrPem),
    reusableCertificate: certificate,
    existingProvider: provider && {
      id: provider.keyProviderID,
      name: provider.keyProviderName,
      active: provider.keyProviderIsActive,
    },
    existingServer: server && { id: server.keyServerID, name: server.kmipKeyServerName, assignedTo: server.keyProviderID },
    serversInUse,
    encryptionAtRestState: s.encryptionAtRestState,
    alreadyDone,
    replacesInternalKey,
    reuse,
  };
}

export function setupActivities(ctx: ActivityContext) {
  return {
    /** What the cluster supports and already has; refuses what the procedure must not do (readSetupState, then assessSetup). */
    async setupPrecheck(cluster: string, input: SetupPrecheckInput): Promise<SetupPrecheck> {
      return withElement(ctx, cluster, async (client) => assessSetup(cluster, await readSetupState(client, input), input));
    },

    /**
     * Makes the cluster's key pair, once: if the key changed since the precheck, this run made it
     * before a crash, so it is kept (making another would orphan nothing yet, but the rule is one).
     */
    async ensureKeyPair(
      cluster: string,
      input: { subject: CertificateSubject; fingerprintAtPrecheck: string | null },
    ): Promise<{ fingerprint: string; created: boolean }> {
      return withElement(ctx, cluster, async (client) => {
        const current = await readKeyFingerprint(client);
        if (current !== null && current !== input.fingerprintAtPrecheck) return { fingerprint: current, created: false };
        await client.call('CreatePublicPrivateKeyPair', { ...input.subject });
        const fingerprint = await readKeyFingerprint(client);
        if (fingerprint === null)
          throw ApplicationFailure.retryable(
            'the cluster has no key pair right after CreatePublicPrivateKeyPair',
            Failure.KeyPairMissing,
          );
        return { fingerprint, created: true };
      });
    },

    async fetchCsr(cluster: string): Promise<{ csrPem: string; keyFingerprint: string; subject: string }> {
      return withElement(ctx, cluster, async (client) => {
        const { clientCertificateSignRequest } = await client.call('GetClientCertificateSignRequest');
        const csrPem = normalizeCsrPem(clientCertificateSignRequest);
        const summary = await summarizeCsr(csrPem);
        return { csrPem, keyFingerprint: summary.keyFingerprint, subject: summary.subject };
      });
    },

    async ensureKeyProvider(cluster: string, name: string): Promise<{ id: number; created: boolean }> {
      return withElement(ctx, cluster, async (client) => {
        const existing = await findProvider(client, name);
        if (existing) return { id: existing.keyProviderID, created: false };
        const { kmipKeyProvider } = await client.call('CreateKeyProviderKmip', { keyProviderName: name });
        return { id: kmipKeyProvider.keyProviderID, created: true };
      });
    },

    /** Finds the server by name: creates it, updates what differs (hostnames, port, certificates), or leaves it. */
    async ensureKeyServer(
      cluster: string,
      spec: KeyServerSpec,
    ): Promise<{ id: number; action: 'created' | 'updated' | 'unchanged'; changed: string[] }> {
      // What goes to the cluster is clean LF-only PEM, the client certificate exactly one block.
      spec = { ...spec, ...cleanKeyServerCertificates(spec) };
      return withElement(ctx, cluster, async (client) => {
        const existing = await findServer(client, spec.name);
        if (!existing) {
          const { kmipKeyServer } = await client.call('CreateKeyServerKmip', {
            kmipKeyServerName: spec.name,
            kmipKeyServerHostnames: spec.hostnames,
            kmipKeyServerPort: spec.port,
            kmipCaCertificate: spec.kmipCaCertificate,
            kmipClientCertificate: spec.kmipClientCertificate,
          });
          return { id: kmipKeyServer.keyServerID, action: 'created', changed: [] };
        }
        const changes: Record<string, unknown> = {};
        if (existing.kmipKeyServerHostnames.join('\n') !== spec.hostnames.join('\n'))
          changes.kmipKeyServerHostnames = spec.hostnames;
        if (existing.kmipKeyServerPort !== spec.port) changes.kmipKeyServerPort = spec.port;
        if (!samePem(existing.kmipCaCertificate, spec.kmipCaCertificate)) changes.kmipCaCertificate = spec.kmipCaCertificate;
        if (!samePem(existing.kmipClientCertificate, spec.kmipClientCertificate))
          changes.kmipClientCertificate = spec.kmipClientCertificate;
        const changed = Object.keys(changes);
        if (changed.length === 0) return { id: existing.keyServerID, action: 'unchanged', changed };
        await client.call('ModifyKeyServerKmip', { keyServerID: existing.keyServerID, ...changes });
        return { id: existing.keyServerID, action: 'updated', changed };
      });
    },

    async testKeyServer(cluster: string, keyServerID: number): Promise<void> {
      await withElement(ctx, cluster, (client) => client.call('TestKeyServerKmip', { keyServerID }), { retryApiErrors: true });
    },

    /**
     * AddKeyServerToProviderKmip, unless GetKeyServerKmip shows the server assigned to the provider
     * already (a retry after an answer that was lost: the add is not sent twice). The cluster tests
     * the server as it adds it, so its error answers are retried like a test's.
     */
    async attachKeyServer(cluster: string, input: { keyProviderID: number; keyServerID: number }): Promise<void> {
      await withElement(
        ctx,
        cluster,
        async (client) => {
          const { kmipKeyServer } = await client.call('GetKeyServerKmip', { keyServerID: input.keyServerID });
          if (kmipKeyServer.keyProviderID === input.keyProviderID) return;
          await client.call('AddKeyServerToProviderKmip', input);
        },
        { retryApiErrors: true },
      );
    },

    /**
     * EnableEncryptionAtRest with the provider, unless it is already enabling or enabled. The
     * cluster creates its key on the key server first, so its error answers are retried like a test's.
     */
    async enableHardwareEncryption(cluster: string, keyProviderID: number): Promise<{ started: boolean; state: string }> {
      return withElement(
        ctx,
        cluster,
        async (client) => {
          const { clusterInfo } = await client.call('GetClusterInfo');
          if (clusterInfo.encryptionAtRestState === 'enabling' || clusterInfo.encryptionAtRestState === 'enabled') {
            return { started: false, state: clusterInfo.encryptionAtRestState };
          }
          await client.call('EnableEncryptionAtRest', { keyProviderID });
          return { started: true, state: 'enabling' };
        },
        { retryApiErrors: true },
      );
    },

    /** Polls GetClusterInfo until encryptionAtRestState is enabled (no async handle exists for it). */
    async awaitHardwareEncryption(cluster: string, poll: PollSettings = DEFAULT_POLL): Promise<void> {
      await withElement(ctx, cluster, (client) =>
        pollUntil(poll, 'encryption at rest is still enabling', async (signal) => {
          const { clusterInfo } = await client.call('GetClusterInfo', undefined, { signal });
          const state = clusterInfo.encryptionAtRestState;
          if (state === 'enabled') return { done: true, value: undefined };
          if (state !== 'enabling')
            throw refuse(Failure.EncryptionNotEnabling, `encryptionAtRestState is ${state} while waiting for enabled`);
          return { done: false, progress: { state } };
        }),
      );
    },

    /**
     * The end state: provider with the server assigned, and for hardware, encryption enabled with
     * it; with drivesUnderProvider (after replacing an internal key) every active drive's key too.
     */
    async verifySetup(
      cluster: string,
      input: { keyProviderID: number; keyServerID: number; mode: SetupMode; drivesUnderProvider?: boolean },
    ): Promise<{ providerActive: boolean; encryptionAtRestState: string }> {
      return withElement(ctx, cluster, async (client) => {
        const { kmipKeyProvider } = await client.call('GetKeyProviderKmip', { keyProviderID: input.keyProviderID });
        const { clusterInfo } = await client.call('GetClusterInfo');
        const problems: string[] = [];
        if (!kmipKeyProvider.keyServerIDs.includes(input.keyServerID))
          problems.push(`key server ${input.keyServerID} is not assigned to provider ${input.keyProviderID}`);
        if (input.mode !== 'none' && !kmipKeyProvider.keyProviderIsActive)
          problems.push(`provider ${input.keyProviderID} is not active`);
        if (input.mode === 'hardware' && clusterInfo.encryptionAtRestState !== 'enabled') {
          problems.push(`encryptionAtRestState is ${clusterInfo.encryptionAtRestState}`);
        }
        if (input.drivesUnderProvider) {
          const drives = await readHardwareEncryption(client);
          if (drives.keyManagementType !== 'external' || drives.keyProviderIDs.join() !== String(input.keyProviderID))
            problems.push(`${describeDriveKeys(drives)}, not provider ${input.keyProviderID}'s`);
        }
        if (problems.length > 0)
          throw refuse(Failure.SetupNotVerified, `the cluster does not show the expected end state: ${problems.join('; ')}`);
        return { providerActive: kmipKeyProvider.keyProviderIsActive, encryptionAtRestState: clusterInfo.encryptionAtRestState };
      });
    },

    /**
     * Abort's compensation: removes the server and provider this run created, only while nothing
     * uses them, and says what it removed and what it left (with why).
     */
    async removeCreatedObjects(
      cluster: string,
      input: { keyServerID?: number; keyProviderID?: number },
    ): Promise<{ removed: string[]; kept: string[] }> {
      return withElement(ctx, cluster, async (client) => {
        const removed: string[] = [];
        const kept: string[] = [];
        if (input.keyServerID !== undefined) {
          const server = (await client.call('ListKeyServersKmip', {})).kmipKeyServers.find(
            (s) => s.keyServerID === input.keyServerID,
          );
          if (!server) removed.push(`key server ${input.keyServerID} (already gone)`);
          else if (server.kmipAssignedProviderIsActive) kept.push(`key server ${server.keyServerID}: its provider is active`);
          else {
            if (server.keyProviderID !== null)
              await client.call('RemoveKeyServerFromProviderKmip', { keyServerID: server.keyServerID });
            await client.call('DeleteKeyServerKmip', { keyServerID: server.keyServerID });
            removed.push(`key server ${server.keyServerID} "${server.kmipKeyServerName}"`);
          }
        }
        if (input.keyProviderID !== undefined) {
          const provider = (await client.call('ListKeyProvidersKmip', {})).kmipKeyProviders.find(
            (p) => p.keyProviderID === input.keyProviderID,
          );
          if (!provider) removed.push(`key provider ${input.keyProviderID} (already gone)`);
          else if (provider.keyProviderIsActive) kept.push(`key provider ${provider.keyProviderID}: it is active`);
          else if (provider.keyServerIDs.length > 0)
            kept.push(
              `key provider ${provider.keyProviderID}: key servers ${provider.keyServerIDs.join(', ')} are still assigned`,
            );
          else {
            await client.call('DeleteKeyProviderKmip', { keyProviderID: provider.keyProviderID });
            removed.push(`key provider ${provider.keyProviderID} "${provider.keyProviderName}"`);
          }
        }
        return { removed, kept };
      });
    },
  };
}
