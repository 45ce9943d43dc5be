/**
 * Element (SolidFire) JSON-RPC API: typed client, method registry, object schemas, errors.
 * Workflow code should import values from './objects' or './methods' (zod only) or use
 * `import type` here: this index also loads the client, which pulls in undici.
 */
export * from './objects';
export * from './methods';
export * from './errors';
export * from './client';
