/**
 * Confirms on the key server itself that a key the cluster reports exists: the worker connects
 * with its own read-only KMIP identity (the cluster's kmipCheck setting) and Locates the key by the
 * custom attribute Element attaches to the keys it creates, x-SolidFire-KeyID-<keyID> (Element's
 * keyID is not the KMIP unique identifier). Without that setting it says it did not check.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Failure } from '../workflows/failures';
import { findCluster, readKmipCheckIdentity, type KmipCheckIdentity } from '../src/config/clusters';
import { KmipConnectionError, KmipOperationError, withKmipSession } from '../src/kmip';
import type { ActivityContext } from './context';
import { asActivityFailure, refuse, withElement } from './element';

/** The attribute a key was looked up by: name and value. */
export interface KeyAttribute {
  name: string;
  value: string;
}

export type KmipKeyCheck =
  { checked: false; reason: string } | { checked: true; keyAttribute: KeyAttribute; server: string; uniqueIdentifiers: string[] };

/** The clusters file's keyAttribute templates with the keyID filled in. */
export function keyAttributeFor(template: KeyAttribute, keyID: string): KeyAttribute {
  return { name: template.name.replaceAll('{keyID}', keyID), value: template.value.replaceAll('{keyID}', keyID) };
}

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
      const servers = await withElement(ctx, cluster, async (client) => {
        const { kmipKeyProvider } = await client.call('GetKeyProviderKmip', { keyProviderID: key.keyProviderID });
        const found = [];
        for (const keyServerID of kmipKeyProvider.keyServerIDs) {
          found.push((await client.call('GetKeyServerKmip', { keyServerID })).kmipKeyServer);
        }
        return found;
      });
      const attribute = keyAttributeFor(identity.keyAttribute, key.keyID);
      const described = `${attribute.name} = ${attribute.value}`;
      const unreachable: string[] = [];
      // The first key server that answers decides (a provider has one server; its hostnames in order).
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
              (session) => session.locateByCustomAttribute(attribute.name, attribute.value),
            );
            if (uniqueIdentifiers.length === 0) {
              throw refuse(
                Failure.KeyNotOnKmipServer,
                `the cluster reports master key ${key.keyID} with provider ${key.keyProviderID}, but key server ${where} has no key with the attribute ${described}`,
              );
            }
            return { checked: true, keyAttribute: attribute, server: where, uniqueIdentifiers };
          } catch (err) {
            if (err instanceof KmipOperationError) {
              throw ApplicationFailure.nonRetryable(
                `key server ${where} refused to Locate the key with the attribute ${described} for the kmipCheck identity: ${err.message}`,
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
        `no key server of provider ${key.keyProviderID} could be asked about the key with the attribute ${described}: ${unreachable.join('; ') || 'it has no key servers'}`,
        Failure.KmipCheckUnreachable,
      );
    },
  };
}
