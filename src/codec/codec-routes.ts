/**
 * The codec endpoints the Temporal web UI (and `temporal --codec-endpoint`) call to show encrypted
 * payloads decoded: POST {prefix}/decode and {prefix}/encode with `{"payloads": [{"metadata":
 * {name: base64}, "data": base64}]}` (protobuf JSON), answered in the same shape. A fastify plugin:
 * `ekm codec-server` serves it alone; the console can register it under its own authentication.
 *
 * CORS: only `allowedOrigin` (the UI's origin, exact) gets CORS headers, credentials included (the
 * UI's "include credentials" sends the console's login cookie); preflights need no login. Every
 * POST needs `authenticate(request)` to name a user, else 401. A payload that cannot be decrypted
 * is 422 with the message naming its key id. Nothing is logged about payloads.
 */
import cors from '@fastify/cors';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { PayloadDecryptionError } from './encryption-codec';

/** Largest request body: a page of a history's payloads (certificates, CSRs) fits well within it. */
export const CODEC_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const requestSchema = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), base64).optional(), data: base64.optional() })),
});

export interface CodecRoutesOptions {
  codec: PayloadCodec;
  /** The user making the request, or undefined (refused with 401). */
  authenticate(request: FastifyRequest): string | undefined;
  /** The Temporal web UI's origin, e.g. `https://temporal.example.com:8080`: the only origin allowed (none without it). */
  allowedOrigin?: string;
  /** Route prefix: '' for the standalone server, e.g. '/codec' inside the console. */
  prefix?: string;
}

const fromJson = (p: z.infer<typeof requestSchema>['payloads'][number]): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

/** Registers the encode/decode routes and their CORS in an encapsulated context of `app`. */
export async function registerCodecRoutes(app: FastifyInstance, options: CodecRoutesOptions): Promise<void> {
  const origin = options.allowedOrigin ? new URL(options.allowedOrigin).origin : undefined;
  await app.register(async (scope) => {
    await scope.register(cors, {
      origin: (requestOrigin, callback) => callback(null, origin !== undefined && requestOrigin === origin),
      methods: ['POST'],
      allowedHeaders: ['Content-Type', 'Authorization', 'X-Namespace'],
      credentials: true,
      maxAge: 600,
    });
    for (const direction of ['decode', 'encode'] as const) {
      scope.post(`${options.prefix ?? ''}/${direction}`, { bodyLimit: CODEC_BODY_LIMIT_BYTES }, async (request, reply) => {
        const user = options.authenticate(request);
        if (!user)
          return reply
            .code(401)
            .header('WWW-Authenticate', 'Bearer')
            .send({ error: 'log in to the console, or send Authorization: Bearer <your token>' });
        if (typeof request.body !== 'object' || request.body === null)
          return reply.code(415).send({ error: 'send the payloads as JSON (Content-Type: application/json)' });
        const parsed = requestSchema.safeParse(request.body);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          const what =
            issue.code === 'invalid_type'
              ? `must be ${issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}`
              : issue.message;
          return reply
            .code(400)
            .send({
              error: `${['body', ...issue.path.map(String)].join('.')}: ${what} (the body is {"payloads": [{"metadata": {...}, "data": "<base64>"}]})`,
            });
        }
        const payloads = parsed.data.payloads.map(fromJson);
        try {
          const out = direction === 'decode' ? await options.codec.decode(payloads) : await options.codec.encode(payloads);
          return reply.send({ payloads: out.map(toJson) });
        } catch (err) {
          if (err instanceof PayloadDecryptionError) return reply.code(422).send({ error: err.message });
          throw err;
        }
      });
    }
  });
}
