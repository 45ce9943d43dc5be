/**
 * The codec server on its own (`ekm codec-server`): the codec routes (codec-routes.ts) in a fastify
 * app of their own, authenticated like the console (src/console/auth.ts): a Bearer token of a
 * user in the users file, or the user header of an authenticating proxy in front.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Authenticator } from '../console/auth';
import { registerCodecRoutes } from './codec-routes';
import { ekmDataConverter } from './data-converter';

export interface CodecServerOptions {
  /** EKM_PAYLOAD_KEYS_FILE (required: a codec server without keys could decode nothing). */
  keysFile: string;
  auth: Authenticator;
  /** The Temporal web UI's origin, the only one CORS allows. */
  allowedOrigin: string;
  https?: { cert: Buffer; key: Buffer };
}

/** Builds (does not start) the server. Throws ConfigError for a keys file with a mistake. */
export async function buildCodecServer(options: CodecServerOptions): Promise<FastifyInstance> {
  const codec = ekmDataConverter({ EKM_PAYLOAD_KEYS_FILE: options.keysFile }).payloadCodecs![0]!;
  const app = Fastify({ logger: false, ...(options.https ? { https: options.https } : {}) }) as unknown as FastifyInstance;
  app.get('/healthz', async () => ({ ok: true }));
  await registerCodecRoutes(app, {
    codec,
    authenticate: (request) => options.auth.identify(request)?.user,
    allowedOrigin: options.allowedOrigin,
  });
  return app;
}
