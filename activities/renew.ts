/**
 * The cluster-side steps of the certificate renewal (docs/procedures.md, "Renew the key server
 * certificates"): what the cluster uses now (read-only), ModifyKeyServerKmip with the new
 * certificate and the way back to the previous one, and the wait for kmipCertificateFault to
 * clear. A modify that may have been applied before a crash is recognised by comparing the
 * server's certificates with what this run installs, never sent again blindly.
 *
 * The precheck is two functions other code can call: `readRenewalState` (read-only Element calls)
 * and `assessRenewal` (no I/O: the facts, the refusals and what the run will do).
 */
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { ElementApiError, type ElementClient } from '../src/element';
import { EkmFaultCode, type KeyProviderKmip, type KeyServerKmip } from '../src/element/objects';
import {
  MIN_REMAINING_VALIDITY_DAYS,
  summarizeCertificate,
  summarizeCsr,
  type CertificateSummary,
} from '../src/pki/certificate-checks';
import { CertificateInputError, readCertificateInput, readCsr } from '../src/pki/certificate-input';
import { Failure } from '../workflows/failures';
import type { ActivityContext } from './context';
import { refuse, withElement } from './element';
import { currentFaults, keepAlive, type FaultSummary } from './faults';
import { pickProvider, type ProviderSelector } from './rekey';
import { readCurrentCsr, type CertificateSubject } from './setup';
import { sameCertificates } from '../src/pki/same-certificates';

const DAY_MS = 86_400_000;

export interface RenewalPrecheckInput {
  provider: ProviderSelector;
  newKeyPair: boolean;
  /** The key server's renewed CA certificate(s), when its CA rotated. */
  kmipCaCertificate?: string;
  /** How the CSR will be signed: it decides how long a new key pair's window stays open. */
  signer: 'manual' | 'cfssl' | 'command';
}

/** What the renewal reads from the cluster (read-only methods only). */
export interface RenewalClusterState {
  /** The API version the clusters file pins. */
  apiVersion: string;
  provider: KeyProviderKmip;
  keyServer: KeyServerKmip;
  /** The CSR of the cluster's key pair; null when it has none. */
  csrPem: string | null;
  /** Key servers of active providers other than this one: a new key pair breaks their trust too. */
  otherServersInUse: { id: number; name: string; providerId: number | null }[];
  /** Current kmipCertificateFault faults that concern this key server (or name none). */
  certificateFaults: FaultSummary[];
}

export interface RenewalPrecheck {
  apiVersion: string;
  provider: { id: number; name: string; active: boolean };
  keyServer: { id: number; name: string; hostnames: string[]; port: number };
  /** The certificates the key server holds now, as the cluster returned them (the way back if the new one fails). */
  clientCertificatePem: string;
  kmipCaCertificatePem: string;
  client: CertificateSummary;
  kmipCa: CertificateSummary[];
  /** The renewed KMIP CA, when one was given. */
  newKmipCa?: CertificateSummary[];
  /** SHA-256 of the cluster's public key: the CSR's (the current certificate's too, unless keyPairAlreadyReplaced). */
  keyFingerprint: string;
  /**
   * --new-key-pair on a cluster whose key pair no longer matches its certificate (a renewal ended
   * inside its window): the window is open already; no new pair is made, the current CSR is signed.
   */
  keyPairAlreadyReplaced?: boolean;
  /** The key pair's subject fields (CreatePublicPrivateKeyPair makes a new pair with the same). */
  subject: CertificateSubject;
  certificateFaults: FaultSummary[];
  /** With a new key pair: the window, in words. */
  window?: string;
  /** What the precheck found, in words. */
  notes: string[];
}

function daysLeft(notAfter: string, now: Date): number {
  return Math.floor((Date.parse(notAfter) - now.getTime()) / DAY_MS);
}

function describeCertificate(c: CertificateSummary, now: Date): string {
  const left = daysLeft(c.notAfter, now);
  const when = left < 0 ? `expired on ${c.notAfter}` : `valid until ${c.notAfter} (${left} day${left === 1 ? '' : 's'} left)`;
  return `${c.subject}, issued by ${c.issuer}, ${when}`;
}

/** The faults that concern this key server: those naming it, and those naming no key server at all. */
function concernsServer(fault: FaultSummary, keyServerID: number): boolean {
  const named = fault.data?.keyServerID;
  return typeof named !== 'number' || named === keyServerID;
}

const samePem = (a: string, b: string) => a.replace(/\s+/g, '') === b.replace(/\s+/g, '');

/** The subject of a CSR as CreatePublicPrivateKeyPair's fields. */
function subjectFields(csrPem: string): CertificateSubject {
  const fields: Record<string, string> = {};
  const names: Record<string, keyof CertificateSubject> = {
    CN: 'commonName',
    O: 'organization',
    OU: 'organizationalUnit',
    L: 'locality',
    ST: 'state',
    C: 'country',
    E: 'emailAddress',
  };
  for (const attribute of readCsr(csrPem).subjectName.toJSON()) {
    for (const [type, values] of Object.entries(attribute)) {
      const field = names[type];
      if (field && values[0] !== undefined && fields[field] === undefined) fields[field] = values[0];
    }
  }
  return { ...fields, commonName: fields.commonName ?? '' };
}

async function summarizeAll(pem: string, name: string): Promise<CertificateSummary[]> {
  const input = readCertificateInput(pem, name, { allowEmpty: true });
  return Promise.all(input.certificates.map((c) => summarizeCertificate(c.certificate)));
}

/**
 * Reads what the renewal needs, with read-only methods only: the provider (by id, by name, or the
 * active one) and its one key server, the CSR, the other key servers in use, the certificate faults.
 */
export async function readRenewalState(client: ElementClient, selector: ProviderSelector): Promise<RenewalClusterState> {
  const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip', {});
  const provider = pickProvider(kmipKeyProviders, selector);
  const keyServerID = provider.keyServerIDs[0];
  if (keyServerID === undefined) {
    throw refuse(
      Failure.KeyProviderHasNoServer,
      `key provider ${provider.keyProviderID} "${provider.keyProviderName}" has no key server: there is no certificate to renew`,
    );
  }
  const { kmipKeyServer } = await client.call('GetKeyServerKmip', { keyServerID });
  const csrPem = await readCurrentCsr(client);
  const { kmipKeyServers } = await client.call('ListKeyServersKmip', {});
  const faults = await currentFaults(client, [EkmFaultCode.kmipCertificateFault]);
  return {
    apiVersion: client.apiVersion,
    provider,
    keyServer: kmipKeyServer,
    csrPem,
    otherServersInUse: kmipKeyServers
      .filter((s) => s.kmipAssignedProviderIsActive === true && s.keyServerID !== keyServerID)
      .map((s) => ({ id: s.keyServerID, name: s.kmipKeyServerName, providerId: s.keyProviderID })),
    certificateFaults: faults.filter((f) => concernsServer(f, keyServerID)),
  };
}

const versionAtLeast = (version: string, minimum: string) => {
  const [a, b] = version.split('.').map(Number);
  const [c, d] = minimum.split('.').map(Number);
  return a! > c! || (a === c && b! >= d!);
};

/**
 * The renewal's precheck without I/O: the facts in words, the refusals (a key pair the
 * certificate does not certify, a KMIP CA about to expire with no renewed one, a new key pair
 * that would break other key servers), and the key-pair window a new key pair opens.
 */
export async function assessRenewal(
  state: RenewalClusterState,
  input: RenewalPrecheckInput,
  now = new Date(),
): Promise<RenewalPrecheck> {
  const server = state.keyServer;
  const serverName = `key server ${server.keyServerID} "${server.kmipKeyServerName}"`;
  if (!versionAtLeast(state.apiVersion, '11.7')) {
    throw refuse(
      Failure.UnsupportedVersion,
      `external key management needs Element API 11.7 or later; the cluster is pinned to ${state.apiVersion}`,
    );
  }
  const [client] = await summarizeAll(server.kmipClientCertificate, `${serverName} kmipClientCertificate`);
  if (!client) throw refuse(Failure.UnexpectedResponse, `${serverName} holds no client certificate`);
  const kmipCa = await summarizeAll(server.kmipCaCertificate, `${serverName} kmipCaCertificate`);
  if (state.csrPem === null) {
    throw refuse(
      Failure.KeyPairMissing,
      `the cluster has no key pair (GetClientCertificateSignRequest), yet ${serverName} holds a client certificate (${client.subject}): there is nothing a renewal could sign`,
    );
  }
  const csr = await summarizeCsr(state.csrPem);
  const mismatch =
    `${serverName}'s client certificate (${client.subject}) certifies key ${client.keyFingerprint.slice(0, 16)}…, but the cluster's key pair is ` +
    `${csr.keyFingerprint.slice(0, 16)}… (replaced after the certificate was issued, e.g. by a renewal ended inside its key-pair window)`;
  // With --new-key-pair that state is the window already open: the current CSR is signed and installed, no further pair is made.
  const keyPairAlreadyReplaced = csr.keyFingerprint !== client.keyFingerprint;
  if (keyPairAlreadyReplaced && !input.newKeyPair) {
    throw refuse(
      Failure.KeyPairMismatch,
      `${mismatch}: the cluster cannot authenticate with that certificate now. A renewal keeps the key pair a certificate certifies, so it ` +
        'stops here; to re-establish trust, renew with --new-key-pair: it has the current CSR signed and installed (no further key pair is made)',
    );
  }

  const minimumMs = MIN_REMAINING_VALIDITY_DAYS * DAY_MS;
  let newKmipCa: CertificateSummary[] | undefined;
  if (input.kmipCaCertificate !== undefined) {
    try {
      newKmipCa = await summarizeAll(input.kmipCaCertificate, 'kmipCaCertificate');
    } catch (err) {
      if (err instanceof CertificateInputError) throw refuse(Failure.InvalidInput, err.message);
      throw err;
    }
    const short = newKmipCa.find((c) => Date.parse(c.notAfter) - now.getTime() < minimumMs);
    if (newKmipCa.length === 0 || short) {
      throw refuse(
        Failure.InvalidInput,
        short
          ? `kmipCaCertificate: ${short.subject} is valid until ${short.notAfter}: give the key server's renewed CA, valid ${MIN_REMAINING_VALIDITY_DAYS}+ more days`
          : 'kmipCaCertificate: holds no certificate',
      );
    }
  } else {
    const expiring = kmipCa.find((c) => Date.parse(c.notAfter) - now.getTime() < minimumMs);
    if (expiring) {
      throw refuse(
        Failure.KmipCaExpiring,
        `${serverName}'s CA certificate ${expiring.subject} ${daysLeft(expiring.notAfter, now) < 0 ? 'expired' : 'expires'} on ${expiring.notAfter}: ` +
          `renewing the client certificate alone would leave kmipCertificateFault. Give the key server's renewed CA certificate (--kmip-ca FILE) with the renewal`,
      );
    }
  }
  if (input.newKeyPair && state.otherServersInUse.length > 0) {
    throw refuse(
      Failure.KeyServersInUse,
      `key servers ${state.otherServersInUse.map((s) => `${s.id} "${s.name}"`).join(', ')} of an active provider also use the cluster's key pair: ` +
        'a new key pair would break their trust too. Renew without a new key pair',
    );
  }

  const notes = [
    `${serverName} of key provider ${state.provider.keyProviderID} "${state.provider.keyProviderName}"${state.provider.keyProviderIsActive ? ' (active)' : ''}`,
    `current client certificate: ${describeCertificate(client, now)}`,
    ...kmipCa.map((c) => `current KMIP CA certificate: ${describeCertificate(c, now)}`),
    ...state.certificateFaults.map((f) => `kmipCertificateFault ${f.clusterFaultID} (${f.severity}): ${f.details}`),
    ...(newKmipCa && sameCertificates(newKmipCa, kmipCa)
      ? ['the KMIP CA certificate given is the one the key server has: it is left as it is']
      : (newKmipCa ?? []).map((c) => `renewed KMIP CA certificate to install: ${describeCertificate(c, now)}`)),
  ];
  let window: string | undefined;
  if (keyPairAlreadyReplaced) {
    window =
      `${mismatch}: the key-pair window is open already, and a cluster restart now could not fetch its keys (kmipServerFault, drives locked). ` +
      'No new key pair is made: the CA signs the current CSR and the runbook installs it';
    notes.push(window);
  } else if (input.newKeyPair) {
    const howLong =
      input.signer === 'manual'
        ? 'as long as the manual signing takes (a person must submit the certificate): an automatic signer keeps it to minutes'
        : `as long as the ${input.signer} signer takes, usually seconds`;
    window =
      `a new key pair opens a window: from CreatePublicPrivateKeyPair until the new certificate is installed, ${serverName}'s certificate ` +
      `no longer matches the cluster's key, and a cluster restart in that window could not fetch its keys (kmipServerFault, drives locked). ` +
      `It lasts ${howLong}`;
    notes.push(window);
  } else
    notes.push(
      `the key pair is kept (key ${csr.keyFingerprint.slice(0, 16)}…): the CA signs the CSR the current certificate was issued for`,
    );
  return {
    apiVersion: state.apiVersion,
    provider: {
      id: state.provider.keyProviderID,
      name: state.provider.keyProviderName,
      active: state.provider.keyProviderIsActive,
    },
    keyServer: {
      id: server.keyServerID,
      name: server.kmipKeyServerName,
      hostnames: server.kmipKeyServerHostnames,
      port: server.kmipKeyServerPort,
    },
    clientCertificatePem: server.kmipClientCertificate,
    kmipCaCertificatePem: server.kmipCaCertificate,
    client,
    kmipCa,
    newKmipCa,
    keyFingerprint: csr.keyFingerprint,
    ...(keyPairAlreadyReplaced ? { keyPairAlreadyReplaced } : {}),
    subject: subjectFields(state.csrPem),
    certificateFaults: state.certificateFaults,
    window,
    notes,
  };
}

/** What a key server holds, compared with what should be there (whitespace does not count). */
function holds(server: KeyServerKmip, wanted: { client: string; ca?: string }): boolean {
  return (
    samePem(server.kmipClientCertificate, wanted.client) &&
    (wanted.ca === undefined || samePem(server.kmipCaCertificate, wanted.ca))
  );
}

/** A certificate input as clean PEM for the cluster (the client certificate exactly one block). */
function clean(pem: string, name: string, bundle: boolean): string {
  try {
    const input = readCertificateInput(pem, name);
    return bundle ? input.certificates.map((c) => c.pem).join('') : input.certificates[0]!.pem;
  } catch (err) {
    if (err instanceof CertificateInputError) throw refuse(Failure.InvalidInput, err.message);
    throw err;
  }
}

function changedUnderUs(server: KeyServerKmip): ApplicationFailure {
  return refuse(
    Failure.KeyServerChanged,
    `key server ${server.keyServerID}'s client certificate changed under the renewal: it is neither the one the precheck found nor one this run installed. ` +
      'Someone else is changing it; the renewal stops rather than overwrite it',
  );
}

/** A key server certificate the cluster uses, for the fault watcher's expiry warnings. */
export interface KeyServerCertificate {
  keyServerID: number;
  keyServerName: string;
  certificate: 'client' | 'ca';
  subject: string;
  issuer: string;
  notAfter: string;
  fingerprint: string;
}

export function renewActivities(ctx: ActivityContext) {
  return {
    /** The renewal's precheck: readRenewalState, then assessRenewal. Reads only. */
    async renewPrecheck(cluster: string, input: RenewalPrecheckInput): Promise<RenewalPrecheck> {
      return withElement(ctx, cluster, async (client) => assessRenewal(await readRenewalState(client, input.provider), input));
    },

    /**
     * ModifyKeyServerKmip with the new client certificate (and KMIP CA), unless the server holds
     * them already (a retry after a crash: the modify was applied). Refuses a server whose
     * certificate is neither one it may replace nor the new one. A modify the cluster answers with
     * an error but applied anyway is reported as applied, with the error, for the runbook to undo.
     */
    async installKeyServerCertificate(
      cluster: string,
      input: { keyServerID: number; clientCertificatePem: string; kmipCaCertificate?: string; replaceable: string[] },
    ): Promise<{ action: 'modified' | 'already-installed'; changed: string[]; modifyError?: string }> {
      const wanted = {
        client: clean(input.clientCertificatePem, 'kmipClientCertificate', false),
        ca: input.kmipCaCertificate === undefined ? undefined : clean(input.kmipCaCertificate, 'kmipCaCertificate', true),
      };
      return withElement(
        ctx,
        cluster,
        async (client) => {
          const read = async () => (await client.call('GetKeyServerKmip', { keyServerID: input.keyServerID })).kmipKeyServer;
          const server = await read();
          if (holds(server, wanted)) return { action: 'already-installed' as const, changed: [] };
          const changes: { kmipClientCertificate?: string; kmipCaCertificate?: string } = {};
          if (!samePem(server.kmipClientCertificate, wanted.client)) {
            if (!input.replaceable.some((pem) => samePem(pem, server.kmipClientCertificate))) throw changedUnderUs(server);
            changes.kmipClientCertificate = wanted.client;
          }
          if (wanted.ca !== undefined && !samePem(server.kmipCaCertificate, wanted.ca)) changes.kmipCaCertificate = wanted.ca;
          const changed = Object.keys(changes);
          try {
            await client.call('ModifyKeyServerKmip', { keyServerID: input.keyServerID, ...changes });
          } catch (err) {
            if (!(err instanceof ElementApiError)) throw err;
            // Whether a cluster keeps a change whose contact with the key server failed is not documented: look.
            if (holds(await read(), wanted))
              return { action: 'modified' as const, changed, modifyError: `${err.name}: ${err.elementMessage}` };
            throw err;
          }
          return { action: 'modified' as const, changed };
        },
        // ModifyKeyServerKmip contacts the key server: its error answers are retried like a test's.
        { retryApiErrors: true },
      );
    },

    /**
     * Puts the previous certificates back (they still work until they expire), unless the server
     * holds them already. Only a certificate this run installed is replaced.
     */
    async restoreKeyServerCertificate(
      cluster: string,
      input: { keyServerID: number; clientCertificatePem: string; kmipCaCertificatePem: string; installed: string[] },
    ): Promise<{ action: 'restored' | 'already-previous'; modifyError?: string }> {
      const previous = { client: input.clientCertificatePem, ca: input.kmipCaCertificatePem };
      return withElement(
        ctx,
        cluster,
        async (client) => {
          const read = async () => (await client.call('GetKeyServerKmip', { keyServerID: input.keyServerID })).kmipKeyServer;
          const server = await read();
          if (holds(server, previous)) return { action: 'already-previous' as const };
          const ours = [...input.installed, previous.client];
          if (!ours.some((pem) => samePem(pem, server.kmipClientCertificate))) throw changedUnderUs(server);
          const changes: { kmipClientCertificate?: string; kmipCaCertificate?: string } = {};
          if (!samePem(server.kmipClientCertificate, previous.client)) changes.kmipClientCertificate = previous.client;
          if (!samePem(server.kmipCaCertificate, previous.ca)) changes.kmipCaCertificate = previous.ca;
          try {
            await client.call('ModifyKeyServerKmip', { keyServerID: input.keyServerID, ...changes });
          } catch (err) {
            if (!(err instanceof ElementApiError)) throw err;
            if (holds(await read(), previous))
              return { action: 'restored' as const, modifyError: `${err.name}: ${err.elementMessage}` };
            throw err;
          }
          return { action: 'restored' as const };
        },
        { retryApiErrors: true },
      );
    },

    /**
     * One look at the faults (the infrequent-poll pattern): returns once no kmipCertificateFault
     * concerning this key server is current, else fails retryably (benign) to look again later.
     */
    async awaitCertificateFaultResolved(cluster: string, keyServerID: number): Promise<void> {
      const faults = await keepAlive(() =>
        withElement(ctx, cluster, (client) => currentFaults(client, [EkmFaultCode.kmipCertificateFault])),
      );
      const current = faults.filter((f) => concernsServer(f, keyServerID));
      if (current.length > 0) {
        throw ApplicationFailure.create({
          message: `kmipCertificateFault ${current[0]!.clusterFaultID} is still current: ${current[0]!.details}`,
          type: Failure.FaultStillPresent,
          category: ApplicationFailureCategory.BENIGN,
        });
      }
    },

    /** The client and CA certificates of the key servers of every active provider (GetKeyServerKmip), for expiry warnings. */
    async keyServerCertificates(cluster: string): Promise<KeyServerCertificate[]> {
      return keepAlive(() =>
        withElement(ctx, cluster, async (client) => {
          const { kmipKeyProviders } = await client.call('ListKeyProvidersKmip', {});
          const ids = [...new Set(kmipKeyProviders.filter((p) => p.keyProviderIsActive).flatMap((p) => p.keyServerIDs))];
          const out: KeyServerCertificate[] = [];
          for (const keyServerID of ids.sort((a, b) => a - b)) {
            const { kmipKeyServer: s } = await client.call('GetKeyServerKmip', { keyServerID });
            const entries: [KeyServerCertificate['certificate'], string][] = [
              ['client', s.kmipClientCertificate],
              ['ca', s.kmipCaCertificate],
            ];
            for (const [which, pem] of entries) {
              let summaries: CertificateSummary[];
              try {
                summaries = await summarizeAll(pem, `key server ${keyServerID} ${which} certificate`);
              } catch (err) {
                if (err instanceof CertificateInputError) continue; // nothing to warn about that can be read
                throw err;
              }
              for (const c of summaries) {
                out.push({
                  keyServerID,
                  keyServerName: s.kmipKeyServerName,
                  certificate: which,
                  subject: c.subject,
                  issuer: c.issuer,
                  notAfter: c.notAfter,
                  fingerprint: c.fingerprint,
                });
              }
            }
          }
          return out;
        }),
      );
    },
  };
}
