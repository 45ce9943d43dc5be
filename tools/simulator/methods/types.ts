import type { z } from 'zod';
import type { SimulatedCluster } from '../cluster';
import type { Json } from '../model';
import { parseParams, type ParamShape } from '../params';

export interface MethodContext {
  cluster: SimulatedCluster;
  /** The endpoint version of this request (/json-rpc/<version>). */
  apiVersion: string;
  /** Names of the methods available at a version (for GetAPI). */
  methodsAt(version: string): string[];
}

export interface MethodHandler {
  /** First API version that has the method. */
  readonly since: string;
  invoke(ctx: MethodContext, raw: Record<string, unknown>): Promise<{ result: Json; unused: Record<string, unknown> }>;
}

export interface MethodDefinition<S extends ParamShape> {
  since: string;
  params: S;
  /** Parameters newer than the method; at older endpoint versions they are ignored (unusedParameters). */
  paramsSince?: Partial<Record<keyof S & string, string>>;
  run(ctx: MethodContext, params: z.output<z.ZodObject<S>>): Promise<Json>;
}

export function defineMethod<S extends ParamShape>(def: MethodDefinition<S>): MethodHandler {
  return {
    since: def.since,
    async invoke(ctx, raw) {
      const { params, unused } = parseParams(def.params, raw, ctx.apiVersion, def.paramsSince);
      return { result: await def.run(ctx, params), unused };
    },
  };
}

export type MethodTable = Record<string, MethodHandler>;
