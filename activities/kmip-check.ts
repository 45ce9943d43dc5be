/**
 * Confirms on the key server itself that a key the cluster reports exists: the worker connects
 * with its own read-only KMIP identity (the cluster's kmipCheck setting) and Locates the key by
 * the name the cluster gives it. Without that setting it says it did not check.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Failure } from '../workflows/failures';
import { findCluster, readKmipCheckIdentity, type KmipCheckIdentity } from '../src/config/clusters';
import { KmipConnectionError, KmipOperationError, withKmipSession } from '../src/kmip';
import type { ActivityContext } from './context';
import { asActivityFailure, refuse, withElement } from './element';

export type KmipKeyCheck =
  { checked: false; reason: string } | { checked: true; keyName: string; server: string; uniqueIdentifiers: string[] };

export function kmipCheckActivities(ctx: ActivityContext) {
  return {
    async confirmKeyOnKmipServer(cluster: string, key: { keyProviderID: number; keyID: string }): Promise<KmipKeyCheck> {
      let identity: KmipCheckIdentity | undefined;
      try {
        identity = readKmipCheckIdentity(cluster, findCluster(ctx.registry, cluster));
      } catch (err) {
        throw asActivityFailure(err);
      }
      if (!identity) {
        return { checked: false, reason: `no kmipCheck identity is configured for cluster ${cluster} in the clusters file` };
      }
      const { uuid, servers } = await withElement(ctx, cluster, async (client) => {
        const { clusterInfo } = await client.call('GetClusterInfo');
        const { kmipKeyProvider } = await client.call('GetKeyProviderKmip', { keyProviderID: key.keyProviderID });
        const found = [];
        for (const keyServerID of kmipKeyProvider.keyServerIDs) {
          found.push((await client.call('GetKeyServerKmip', { keyServerID })).kmipKeyServer);
        }
        return { uuid: clusterInfo.uuid, servers: found };
      });
      const keyName = identity.keyName.replaceAll('{clusterUuid}', uuid).replaceAll('{keyID}', key.keyID);
      const unreachable: string[] = [];
      // The first key server that answers decides (the provider's servers share its keys).
      for (const server of servers) {
        for (const host of server.kmipKeyServerHostnames) {
          const where = `${host}:${server.kmipKeyServerPort}`;
          try {
            const uniqueIdentifiers = await withKmipSession(
              {
                host,
                port: server.kmipKeyServerPort,
                caPem: server.kmipCaCertificate,
                certificatePem: identity.certificatePem,
                privateKeyPem: identity.privateKeyPem,
              },
              (session) => session.locateByName(keyName),
            );
            if (uniqueIdentifiers.length === 0) {
              throw refuse(
                Failure.KeyNotOnKmipServer,
                `the cluster reports master key ${key.keyID} with provider ${key.keyProviderID}, but key server ${where} has no key named "${keyName}"`,
              );
            }
            return { checked: true, keyName, server: where, uniqueIdentifiers };
          } catch (err) {
            if (err instanceof KmipOperationError) {
              throw ApplicationFailure.nonRetryable(
                `key server ${where} refused to Locate "${keyName}" for the kmipCheck identity: ${err.message}`,
                Failure.KmipCheckRefused,
              );
            }
            if (!(err instanceof KmipConnectionError)) throw err;
            unreachable.push(`${where}: ${err.message}`);
          }
        }
      }
      // Retryable: the key server may be back on the next attempt.
      throw ApplicationFailure.retryable(
        `no key server of provider ${key.keyProviderID} could be asked about key "${keyName}": ${unreachable.join('; ') || 'it has no key servers'}`,
        Failure.KmipCheckUnreachable,
      );
    },
  };
}
