/**
 * Encryption at rest: hardware (EnableEncryptionAtRest / DisableEncryptionAtRest, asynchronous
 * without a handle: GetClusterInfo encryptionAtRestState moves enabling -> enabled over
 * earTransitionMs) and software (SEAR, fixed at cluster creation; master-key rekey as an async job).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ElementFault, ErrorNames, invalidParameter } from '../errors';
import { startRekey } from '../jobs';
import { createActiveKey, KmipLinkError } from '../kmip-link';
import { findKeyProvider, keyInfoJson, runningRekeys, serversOfProvider, type Json } from '../model';
import { IntId } from '../params';
import type { ClusterState, KeyRecord } from '../state';
import { noServersFault } from './key-providers';
import { defineMethod, type MethodTable } from './types';

/** EnableEncryptionAtRest's answer on an Element demo VM, word for word. */
export const DEMO_NODE_MESSAGE = 'Encryption is not supported on demo nodes.';

function alreadyEnabled(state: ClusterState): ElementFault {
  return new ElementFault(
    ErrorNames.encryptionAlreadyEnabled,
    `Encryption at rest is ${state.ear.state}; it can only be enabled when disabled.`,
  );
}

/** The control API's enable failure (PUT /control/encryption/enable-failure): one use, or every use until cleared. */
function failIfInjected(state: ClusterState): void {
  const failure = state.injection.enableFailure;
  if (!failure) return;
  if (failure.remaining !== null) {
    failure.remaining -= 1;
    if (failure.remaining <= 0) state.injection.enableFailure = null;
  }
  throw new ElementFault(failure.error.name, failure.error.message);
}

export const encryptionMethods: MethodTable = {
  /**
   * With keyProviderID: creates and activates an AES-256 key on the provider's KMIP server (first
   * reachable server, hostnames in order), then moves to enabling; the provider turns active.
   * Without: an internal key. No asyncHandle. The control API can make the call with a
   * keyProviderID fail (an enable failure), before anything changes.
   */
  EnableEncryptionAtRest: defineMethod({
    since: '5.0',
    params: { keyProviderID: IntId.optional() },
    paramsSince: { keyProviderID: '11.7' },
    async run(ctx, p) {
      const prepared = await ctx.cluster.run((state, now) => {
        // What an Element demo VM answers (seen on a real one); nothing changes.
        if (state.cluster.demoNode) throw new ElementFault(ErrorNames.apiNotPermitted, DEMO_NODE_MESSAGE);
        if (state.ear.state !== 'disabled') throw alreadyEnabled(state);
        if (p.keyProviderID !== undefined) failIfInjected(state);
        if (p.keyProviderID === undefined) {
          state.ear = {
            state: 'enabling',
            since: now,
            key: { keyID: randomUUID(), keyManagementType: 'internal', createdAt: now },
          };
          return undefined;
        }
        const provider = findKeyProvider(state, p.keyProviderID);
        const servers = serversOfProvider(state, provider);
        if (servers.length === 0) throw noServersFault(provider);
        return {
          keyID: randomUUID(),
          providerID: provider.keyProviderID,
          tag: state.injection.tagKeys,
          servers: structuredClone(servers),
          kmip: ctx.cluster.kmipContext(state),
        };
      });
      if (!prepared) return {};
      let uniqueIdentifier: string;
      try {
        ({ uniqueIdentifier } = await createActiveKey(prepared.servers, prepared.kmip, prepared.keyID, { tag: prepared.tag }));
      } catch (err) {
        throw err instanceof KmipLinkError ? err.toElementFault() : err;
      }
      await ctx.cluster.run((state, now) => {
        if (state.ear.state !== 'disabled') throw alreadyEnabled(state);
        const key: KeyRecord = {
          keyID: prepared.keyID,
          keyManagementType: 'external',
          keyProviderID: prepared.providerID,
          kmipUniqueIdentifier: uniqueIdentifier,
          createdAt: now,
        };
        state.ear = { state: 'enabling', since: now, key };
      });
      ctx.cluster.log(
        `encryption at rest enabling with a key from provider ${prepared.providerID} (KMIP unique identifier ${uniqueIdentifier})`,
      );
      return {};
    },
  }),

  /** Hardware EAR only (software EAR can never be turned off). */
  DisableEncryptionAtRest: defineMethod({
    since: '5.0',
    params: {},
    async run(ctx) {
      return ctx.cluster.run((state, now) => {
        if (state.ear.state !== 'enabled') {
          throw new ElementFault(
            ErrorNames.encryptionNotEnabled,
            `Encryption at rest is ${state.ear.state}; it can only be disabled when enabled.`,
          );
        }
        state.ear = { ...state.ear, state: 'disabling', since: now };
        return {};
      });
    },
  }),

  GetSoftwareEncryptionAtRestInfo: defineMethod({
    since: '12.3',
    params: {},
    async run(ctx) {
      return ctx.cluster.run((state) => {
        const out: Json = { state: state.sear.enabled ? 'enabled' : 'disabled', version: state.sear.version };
        if (state.sear.masterKey) out.masterKeyInfo = keyInfoJson(state.sear.masterKey);
        // The latest rekey's handle, also after its result was read without keepResult (UNCONFIRMED:
        // the SDK says "if it hasn't been deleted yet"); the control API can make the cluster forget it.
        if (state.sear.rekeyAsyncResultID !== null) out.rekeyMasterKeyAsyncResultID = state.sear.rekeyAsyncResultID;
        return out;
      });
    },
  }),

  /** SDK-only in 12.3 (shape UNCONFIRMED): hardware EAR state and its authentication key. */
  GetEncryptionAtRestInfo: defineMethod({
    since: '12.3',
    params: {},
    async run(ctx) {
      return ctx.cluster.run((state) => {
        const out: Json = { state: state.ear.state };
        if (state.ear.key && state.ear.state !== 'disabled') out.authenticationKeyInfo = keyInfoJson(state.ear.key);
        return out;
      });
    },
  }),

  /**
   * Starts a master-key rekey job (asyncHandle). keyManagementType is matched case-insensitively
   * (the docs list Internal/External, their examples send "external"); omitted = keep the mode.
   */
  RekeySoftwareEncryptionAtRestMasterKey: defineMethod({
    since: '12.3',
    params: { keyManagementType: z.string().optional(), keyProviderID: IntId.optional() },
    async run(ctx, p) {
      return ctx.cluster.run((state, now) => {
        if (!state.sear.enabled || !state.sear.masterKey) {
          throw new ElementFault(
            ErrorNames.featureNotEnabled,
            'Software encryption at rest is not enabled on this cluster (it can only be enabled at cluster creation).',
          );
        }
        const running = runningRekeys(state)[0];
        if (running) {
          throw new ElementFault(
            ErrorNames.rekeyInProgress,
            `A master key rekey is already in progress (asyncHandle ${running.asyncResultID}).`,
          );
        }
        let type: 'internal' | 'external';
        if (p.keyManagementType === undefined) type = state.sear.masterKey.keyManagementType;
        else {
          const lower = p.keyManagementType.toLowerCase();
          if (lower !== 'internal' && lower !== 'external')
            throw invalidParameter('keyManagementType', 'must be one of "Internal", "External"');
          type = lower;
        }
        let keyProviderID: number | undefined;
        if (type === 'external') {
          keyProviderID = p.keyProviderID ?? (p.keyManagementType === undefined ? state.sear.masterKey.keyProviderID : undefined);
          if (keyProviderID === undefined)
            throw invalidParameter('keyProviderID', 'is required when keyManagementType is External');
          const provider = findKeyProvider(state, keyProviderID);
          if (provider.keyServerIDs.length === 0) throw noServersFault(provider);
        } else if (p.keyProviderID !== undefined) {
          throw invalidParameter('keyProviderID', 'is only valid when keyManagementType is External');
        }
        const record = startRekey(state, now, ctx.cluster.durations.rekeyMs, state.sear.masterKey, {
          keyManagementType: type,
          keyProviderID,
        });
        ctx.cluster.log(`rekey ${record.asyncResultID} started: ${state.sear.masterKey.keyManagementType} -> ${type}`);
        return { asyncHandle: record.asyncResultID };
      });
    },
  }),
};
