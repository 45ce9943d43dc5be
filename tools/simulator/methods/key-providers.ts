/** KMIP key providers (Element 11.7). */
import { ElementFault, ErrorNames } from '../errors';
import { KmipLinkError, testKeyServer } from '../kmip-link';
import { findKeyProvider, findKeyServer, isProviderActive, keyProviderJson, serversOfProvider } from '../model';
import { Bool, IntId, NonEmptyStr } from '../params';
import type { KeyProviderRecord, KeyServerRecord } from '../state';
import { isLastServerOfActiveProvider, lastServerFault, testOrThrow } from './key-servers';
import { defineMethod, type MethodTable } from './types';

export function noServersFault(provider: KeyProviderRecord): ElementFault {
  return new ElementFault(
    ErrorNames.keyProviderHasNoKeyServers,
    `KeyProviderID ${provider.keyProviderID} has no key servers assigned.`,
  );
}

/** A server belongs to at most one provider, and a provider holds at most one server. */
function refuseAssignment(provider: KeyProviderRecord, server: KeyServerRecord): void {
  if (server.keyProviderID !== null) {
    throw new ElementFault(
      ErrorNames.keyServerAlreadyAssigned,
      `KeyServerID ${server.keyServerID} is already assigned to key provider ${server.keyProviderID}; remove it from that provider first.`,
    );
  }
  const other = provider.keyServerIDs.find((id) => id !== server.keyServerID);
  if (other !== undefined) {
    throw new ElementFault(
      ErrorNames.maxKeyServersPerProvider,
      `KeyProviderID ${provider.keyProviderID} already has key server ${other}; a key provider supports only one key server (a clustered key server is one key server with several hostnames: ModifyKeyServerKmip kmipKeyServerHostnames).`,
    );
  }
}

export const keyProviderMethods: MethodTable = {
  /** A new provider has no servers and is inactive. */
  CreateKeyProviderKmip: defineMethod({
    since: '11.7',
    params: { keyProviderName: NonEmptyStr },
    async run(ctx, p) {
      return ctx.cluster.run((state) => {
        const provider: KeyProviderRecord = {
          keyProviderID: state.counters.keyProviderID++,
          keyProviderName: p.keyProviderName,
          keyServerIDs: [],
        };
        state.keyProviders.push(provider);
        return { kmipKeyProvider: keyProviderJson(state, provider) };
      });
    },
  }),

  /** Only inactive providers; their servers become unassigned. */
  DeleteKeyProviderKmip: defineMethod({
    since: '11.7',
    params: { keyProviderID: IntId },
    async run(ctx, p) {
      return ctx.cluster.run((state) => {
        const provider = findKeyProvider(state, p.keyProviderID);
        if (isProviderActive(state, provider.keyProviderID)) {
          throw new ElementFault(
            ErrorNames.keyProviderIsActive,
            `KeyProviderID ${provider.keyProviderID} is active (its keys are in use) and cannot be deleted.`,
          );
        }
        for (const server of state.keyServers) if (server.keyProviderID === provider.keyProviderID) server.keyProviderID = null;
        state.keyProviders = state.keyProviders.filter((x) => x.keyProviderID !== provider.keyProviderID);
        return {};
      });
    },
  }),

  /**
   * Contacts the server to verify it; re-adding an assigned pair is a silent no-op. A provider
   * holds one key server (a clustered key server is one server with several hostnames): adding a
   * second is refused before anything is contacted.
   */
  AddKeyServerToProviderKmip: defineMethod({
    since: '11.7',
    params: { keyProviderID: IntId, keyServerID: IntId },
    async run(ctx, p) {
      const prepared = await ctx.cluster.run((state) => {
        const provider = findKeyProvider(state, p.keyProviderID);
        const server = findKeyServer(state, p.keyServerID);
        if (server.keyProviderID === provider.keyProviderID) return undefined;
        refuseAssignment(provider, server);
        return { server: structuredClone(server), kmip: ctx.cluster.kmipContext(state) };
      });
      if (!prepared) return {};
      await testOrThrow(prepared.server, prepared.kmip);
      return ctx.cluster.run((state) => {
        const provider = findKeyProvider(state, p.keyProviderID);
        const server = findKeyServer(state, p.keyServerID);
        if (server.keyProviderID === provider.keyProviderID) return {};
        refuseAssignment(provider, server);
        server.keyProviderID = provider.keyProviderID;
        provider.keyServerIDs.push(server.keyServerID);
        return {};
      });
    },
  }),

  /** No-op when unassigned; refused for the last server of an active provider. */
  RemoveKeyServerFromProviderKmip: defineMethod({
    since: '11.7',
    params: { keyServerID: IntId },
    async run(ctx, p) {
      return ctx.cluster.run((state) => {
        const server = findKeyServer(state, p.keyServerID);
        if (server.keyProviderID === null) return {};
        if (isLastServerOfActiveProvider(state, server)) throw lastServerFault(server);
        const provider = state.keyProviders.find((x) => x.keyProviderID === server.keyProviderID);
        if (provider) provider.keyServerIDs = provider.keyServerIDs.filter((id) => id !== server.keyServerID);
        server.keyProviderID = null;
        return {};
      });
    },
  }),

  GetKeyProviderKmip: defineMethod({
    since: '11.7',
    params: { keyProviderID: IntId },
    async run(ctx, p) {
      return ctx.cluster.run((state) => ({ kmipKeyProvider: keyProviderJson(state, findKeyProvider(state, p.keyProviderID)) }));
    },
  }),

  ListKeyProvidersKmip: defineMethod({
    since: '11.7',
    params: { keyProviderIsActive: Bool.optional(), kmipKeyProviderHasServerAssigned: Bool.optional() },
    async run(ctx, p) {
      return ctx.cluster.run((state) => ({
        kmipKeyProviders: state.keyProviders
          .filter(
            (x) => p.keyProviderIsActive === undefined || isProviderActive(state, x.keyProviderID) === p.keyProviderIsActive,
          )
          .filter(
            (x) =>
              p.kmipKeyProviderHasServerAssigned === undefined ||
              x.keyServerIDs.length > 0 === p.kmipKeyProviderHasServerAssigned,
          )
          .sort((a, b) => a.keyProviderID - b.keyProviderID)
          .map((x) => keyProviderJson(state, x)),
      }));
    },
  }),

  /** Tests the provider's key server (DiscoverVersions and Query). */
  TestKeyProviderKmip: defineMethod({
    since: '11.7',
    params: { keyProviderID: IntId },
    async run(ctx, p) {
      const { provider, servers, kmip } = await ctx.cluster.run((state) => {
        const found = findKeyProvider(state, p.keyProviderID);
        return {
          provider: structuredClone(found),
          servers: structuredClone(serversOfProvider(state, found)),
          kmip: ctx.cluster.kmipContext(state),
        };
      });
      if (servers.length === 0) throw noServersFault(provider);
      const failures: KmipLinkError[] = [];
      for (const server of servers) {
        try {
          await testKeyServer(server, kmip);
        } catch (err) {
          if (!(err instanceof KmipLinkError)) throw err;
          failures.push(err);
        }
      }
      if (failures.length > 0) {
        const first = failures[0]!.toElementFault();
        throw new ElementFault(
          first.elementName,
          `KeyProviderID ${provider.keyProviderID}: ${failures.map((f) => f.message).join('; ')}`,
        );
      }
      return {};
    },
  }),
};
