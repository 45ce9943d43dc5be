/** GetAsyncResult and ListAsyncResults. */
import { z } from 'zod';
import { asyncHandleDoesNotExist } from '../errors';
import { asyncHandleJson, asyncResultJson } from '../model';
import { Bool, IntId, NonEmptyStr } from '../params';
import { defineMethod, type MethodTable } from './types';

export const asyncMethods: MethodTable = {
  /** A completed result is forgotten once returned, unless keepResult is true; running ones never are. */
  GetAsyncResult: defineMethod({
    since: '1.0',
    params: { asyncHandle: IntId, keepResult: Bool.optional() },
    async run(ctx, p) {
      return ctx.cluster.run((state) => {
        const record = state.asyncResults.find((r) => r.asyncResultID === p.asyncHandle);
        if (!record) throw asyncHandleDoesNotExist(p.asyncHandle);
        const json = asyncResultJson(record);
        if (record.outcome && p.keepResult !== true) {
          state.asyncResults = state.asyncResults.filter((r) => r.asyncResultID !== record.asyncResultID);
        }
        return json;
      });
    },
  }),

  /** Never purges. */
  ListAsyncResults: defineMethod({
    since: '9.0',
    params: { asyncResultTypes: z.array(NonEmptyStr).optional() },
    async run(ctx, p) {
      return ctx.cluster.run((state) => ({
        asyncHandles: state.asyncResults
          .filter((r) => p.asyncResultTypes === undefined || p.asyncResultTypes.includes(r.resultType))
          .sort((a, b) => a.asyncResultID - b.asyncResultID)
          .map(asyncHandleJson),
      }));
    },
  }),
};
