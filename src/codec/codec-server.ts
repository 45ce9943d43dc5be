/**
 * The codec server on its own (`ekm codec-server`): the codec routes (codec-routes.ts) in a fastify
 * app of their own, authenticated like the console (src/console/auth.ts): a Bearer token of a
 * user in the users file, or the user header of an authenticating proxy in front.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Authenticator } from '../console/auth';
import { CODEC_BODY_LIMIT_BYTES, registerCodecRoutes } from './codec-routes';
import { ekmDataConverter } from './data-converter';

export interface CodecServerOptions {
  /** EKM_PAYLOAD_KEYS_FILE (required: a codec server without keys could decode nothing). */
  keysFile: string;
  auth: Authenticator;
  /** The Temporal web UI's origin, the only one CORS allows; without it no browser may call. */
  allowedOrigin?: string;
  https?: { cert: Buffer; key: Buffer };
}

/** Builds (does not start) the server. Throws ConfigError for a keys file with a mistake. */
export async function buildCodecServer(options: CodecServerOptions): Promise<FastifyInstance> {
  const codec = ekmDataConverter({ EKM_PAYLOAD_KEYS_FILE: options.keysFile }).payloadCodecs![0]!;
  const app = Fastify({ logger: false, ...(options.https ? { https: options.https } : {}) }) as unknown as FastifyInstance;
  app.get('/healthz', async () => ({ ok: true }));
  // The framework's own refusals, in words (its codes, e.g. FST_ERR_CTP_INVALID_MEDIA_TYPE, mean nothing to a caller).
  app.setErrorHandler((err: { code?: string; statusCode?: number; message: string }, _request, reply) => {
    const words: Record<string, [number, string]> = {
      FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'send the payloads as JSON (Content-Type: application/json)'],
      FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'the body is empty: send {"payloads": [...]}'],
      FST_ERR_CTP_INVALID_JSON_BODY: [400, 'the body is not valid JSON'],
      FST_ERR_CTP_BODY_TOO_LARGE: [
        413,
        `the body is larger than ${CODEC_BODY_LIMIT_BYTES / 1024 / 1024} MiB: send fewer payloads at once`,
      ],
    };
    const known = err.code ? words[err.code] : undefined;
    if (known) return reply.code(known[0]).send({ error: known[1] });
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    return reply.code(500).send({ error: 'the codec server failed on this request; nothing was decoded' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({
        error: `no ${request.method} ${request.url.split('?')[0]} here: the codec server answers POST /decode and POST /encode`,
      }),
  );
  await registerCodecRoutes(app, {
    codec,
    authenticate: (request) => options.auth.identify(request)?.user,
    allowedOrigin: options.allowedOrigin,
  });
  return app;
}
