/** A message and its zod schemas, and the time format they share. Workflow-safe. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';

export const isoTime = z.iso.datetime();

/** A message and its schemas: what handlers validate with and what clients build and check with. */
export function query<R extends z.ZodType>(name: string, result: R) {
  return { name, definition: defineQuery<z.output<R>>(name), result };
}
export function update<A extends z.ZodType, R extends z.ZodType>(name: string, argument: A, result: R) {
  return { name, definition: defineUpdate<z.output<R>, [z.input<A>]>(name), argument, result };
}
export function signal<A extends z.ZodType>(name: string, argument: A) {
  return { name, definition: defineSignal<[z.output<A>]>(name), argument };
}
