/** KMIP key servers (Element 11.7): Create/Modify/Delete/Get/List/TestKeyServerKmip. */
import { z } from 'zod';
import { certificateFingerprint, normalizePem, parsePemCertificates } from '../crypto';
import { ElementFault, ErrorNames, invalidParameter } from '../errors';
import { KmipLinkError, testKeyServer, type KmipLinkContext } from '../kmip-link';
import { findKeyServer, isProviderActive, keyServerJson } from '../model';
import { Bool, IntId, NonEmptyStr, Str } from '../params';
import type { ClusterState, KeyServerRecord } from '../state';
import { defineMethod, type MethodTable } from './types';

export const DEFAULT_KMIP_PORT = 5696;

const Hostnames = z.array(NonEmptyStr).min(1);
const Port = z.int().min(1).max(65535);

/** Checks the CA bundle PEM; answers xInvalidParameter naming the member. */
function checkCaCertificate(pem: string): string {
  try {
    parsePemCertificates(pem);
  } catch (err) {
    throw invalidParameter('kmipCaCertificate', (err as Error).message);
  }
  return normalizePem(pem);
}

/** Checks the client certificate PEM and that it carries the cluster's current public key. */
function checkClientCertificate(state: ClusterState, pem: string): string {
  let fingerprint: string;
  try {
    const certs = parsePemCertificates(pem);
    if (certs.length !== 1) throw new Error(`holds ${certs.length} certificates; exactly one is expected`);
    fingerprint = certificateFingerprint(certs[0]!);
  } catch (err) {
    throw invalidParameter('kmipClientCertificate', (err as Error).message);
  }
  if (!state.keyPair) {
    throw invalidParameter(
      'kmipClientCertificate',
      'the cluster has no public/private key pair yet; call CreatePublicPrivateKeyPair and have its CSR signed',
    );
  }
  if (fingerprint !== state.keyPair.publicKeyFingerprint) {
    throw invalidParameter(
      'kmipClientCertificate',
      "the certificate's public key is not the cluster's current public key (sign the CSR from GetClientCertificateSignRequest)",
    );
  }
  return normalizePem(pem);
}

/** True when removing this server would leave an active provider without servers. */
export function isLastServerOfActiveProvider(state: ClusterState, server: KeyServerRecord): boolean {
  const providerID = server.keyProviderID;
  if (providerID === null || !isProviderActive(state, providerID)) return false;
  const provider = state.keyProviders.find((p) => p.keyProviderID === providerID);
  return (provider?.keyServerIDs.length ?? 0) <= 1;
}

export function lastServerFault(server: KeyServerRecord): ElementFault {
  return new ElementFault(
    ErrorNames.keyServerInUse,
    `KeyServerID ${server.keyServerID} is the last key server of active key provider ${String(server.keyProviderID)}; it cannot be removed while the provider's keys are in use.`,
  );
}

export const keyServerMethods: MethodTable = {
  /** Validates the PEMs and the client certificate's key; does not contact the server. */
  CreateKeyServerKmip: defineMethod({
    since: '11.7',
    params: {
      kmipCaCertificate: Str,
      kmipClientCertificate: Str,
      kmipKeyServerHostnames: Hostnames,
      kmipKeyServerName: NonEmptyStr,
      kmipKeyServerPort: Port.optional(),
    },
    async run(ctx, p) {
      return ctx.cluster.run((state) => {
        const ca = checkCaCertificate(p.kmipCaCertificate);
        const client = checkClientCertificate(state, p.kmipClientCertificate);
        const server: KeyServerRecord = {
          keyServerID: state.counters.keyServerID++,
          kmipKeyServerName: p.kmipKeyServerName,
          kmipKeyServerHostnames: [...p.kmipKeyServerHostnames],
          kmipKeyServerPort: p.kmipKeyServerPort ?? DEFAULT_KMIP_PORT,
          kmipCaCertificate: ca,
          kmipClientCertificate: client,
          keyProviderID: null,
        };
        state.keyServers.push(server);
        return { kmipKeyServer: keyServerJson(state, server) };
      });
    },
  }),

  /**
   * Given members replace the old ones. A change contacts the server with the new configuration
   * and is kept only if that works (the control API's modify-key-server mode: keep it anyway, or
   * store it without contacting the server).
   */
  ModifyKeyServerKmip: defineMethod({
    since: '11.7',
    params: {
      keyServerID: IntId,
      kmipCaCertificate: Str.optional(),
      kmipClientCertificate: Str.optional(),
      kmipKeyServerHostnames: Hostnames.optional(),
      kmipKeyServerName: NonEmptyStr.optional(),
      kmipKeyServerPort: Port.optional(),
    },
    async run(ctx, p) {
      const prepared = await ctx.cluster.run((state) => {
        const current = findKeyServer(state, p.keyServerID);
        const candidate: KeyServerRecord = structuredClone(current);
        if (p.kmipCaCertificate !== undefined) candidate.kmipCaCertificate = checkCaCertificate(p.kmipCaCertificate);
        if (p.kmipClientCertificate !== undefined)
          candidate.kmipClientCertificate = checkClientCertificate(state, p.kmipClientCertificate);
        if (p.kmipKeyServerHostnames !== undefined) candidate.kmipKeyServerHostnames = [...p.kmipKeyServerHostnames];
        if (p.kmipKeyServerName !== undefined) candidate.kmipKeyServerName = p.kmipKeyServerName;
        if (p.kmipKeyServerPort !== undefined) candidate.kmipKeyServerPort = p.kmipKeyServerPort;
        const changed = JSON.stringify(candidate) !== JSON.stringify(current);
        const mode = state.injection.modifyKeyServer;
        return { candidate, changed, mode, kmip: ctx.cluster.kmipContext(state), unchanged: keyServerJson(state, current) };
      });
      if (!prepared.changed) return { kmipKeyServer: prepared.unchanged };
      const store = () =>
        ctx.cluster.run((state) => {
          const server = findKeyServer(state, p.keyServerID);
          const c = prepared.candidate;
          server.kmipCaCertificate = c.kmipCaCertificate;
          server.kmipClientCertificate = c.kmipClientCertificate;
          server.kmipKeyServerHostnames = c.kmipKeyServerHostnames;
          server.kmipKeyServerName = c.kmipKeyServerName;
          server.kmipKeyServerPort = c.kmipKeyServerPort;
          return { kmipKeyServer: keyServerJson(state, server) };
        });
      if (prepared.mode === 'store') return store();
      try {
        await testOrThrow(prepared.candidate, prepared.kmip);
      } catch (err) {
        if (prepared.mode === 'keep') await store();
        throw err;
      }
      return store();
    },
  }),

  DeleteKeyServerKmip: defineMethod({
    since: '11.7',
    params: { keyServerID: IntId },
    async run(ctx, p) {
      return ctx.cluster.run((state) => {
        const server = findKeyServer(state, p.keyServerID);
        if (isLastServerOfActiveProvider(state, server)) throw lastServerFault(server);
        for (const provider of state.keyProviders)
          provider.keyServerIDs = provider.keyServerIDs.filter((id) => id !== server.keyServerID);
        state.keyServers = state.keyServers.filter((s) => s.keyServerID !== server.keyServerID);
        return {};
      });
    },
  }),

  GetKeyServerKmip: defineMethod({
    since: '11.7',
    params: { keyServerID: IntId },
    async run(ctx, p) {
      return ctx.cluster.run((state) => ({ kmipKeyServer: keyServerJson(state, findKeyServer(state, p.keyServerID)) }));
    },
  }),

  ListKeyServersKmip: defineMethod({
    since: '11.7',
    params: {
      keyProviderID: IntId.optional(),
      kmipAssignedProviderIsActive: Bool.optional(),
      kmipHasProviderAssigned: Bool.optional(),
    },
    async run(ctx, p) {
      return ctx.cluster.run((state) => {
        const servers = state.keyServers
          .filter((s) => p.keyProviderID === undefined || s.keyProviderID === p.keyProviderID)
          .filter((s) => p.kmipHasProviderAssigned === undefined || (s.keyProviderID !== null) === p.kmipHasProviderAssigned)
          .filter(
            (s) =>
              p.kmipAssignedProviderIsActive === undefined ||
              (s.keyProviderID !== null && isProviderActive(state, s.keyProviderID) === p.kmipAssignedProviderIsActive),
          )
          .sort((a, b) => a.keyServerID - b.keyServerID);
        return { kmipKeyServers: servers.map((s) => keyServerJson(state, s)) };
      });
    },
  }),

  /** Connects over mutual TLS (hostnames in order) and runs KMIP DiscoverVersions and Query. */
  TestKeyServerKmip: defineMethod({
    since: '11.7',
    params: { keyServerID: IntId },
    async run(ctx, p) {
      const { server, kmip } = await ctx.cluster.run((state) => ({
        server: structuredClone(findKeyServer(state, p.keyServerID)),
        kmip: ctx.cluster.kmipContext(state),
      }));
      await testOrThrow(server, kmip);
      return {};
    },
  }),
};

/** Runs the KMIP test; a failure becomes the Element error the cluster would answer. */
export async function testOrThrow(server: KeyServerRecord, kmip: KmipLinkContext): Promise<void> {
  try {
    await testKeyServer(server, kmip);
  } catch (err) {
    throw err instanceof KmipLinkError ? err.toElementFault() : err;
  }
}
