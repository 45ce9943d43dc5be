import { compareVersions } from '../versions';
import { asyncMethods } from './async';
import { clusterMethods } from './cluster';
import { driveMethods } from './drives';
import { encryptionMethods } from './encryption';
import { faultMethods } from './faults';
import { keyPairMethods } from './keypair-csr';
import { keyProviderMethods } from './key-providers';
import { keyServerMethods } from './key-servers';
import type { MethodHandler, MethodTable } from './types';

/** Every JSON-RPC method the simulated cluster answers. */
export const methodTable: MethodTable = {
  ...clusterMethods,
  ...keyPairMethods,
  ...keyServerMethods,
  ...keyProviderMethods,
  ...encryptionMethods,
  ...asyncMethods,
  ...faultMethods,
  ...driveMethods,
};

/** The handler, when the method exists at this endpoint version. */
export function lookupMethod(name: string, apiVersion: string): MethodHandler | undefined {
  if (!Object.prototype.hasOwnProperty.call(methodTable, name)) return undefined;
  const handler = methodTable[name]!;
  return compareVersions(apiVersion, handler.since) >= 0 ? handler : undefined;
}

export function methodsAt(version: string): string[] {
  return Object.keys(methodTable)
    .filter((name) => compareVersions(version, methodTable[name]!.since) >= 0)
    .sort();
}

export type { MethodContext, MethodHandler } from './types';
