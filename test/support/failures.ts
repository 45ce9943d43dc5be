/** The innermost cause's message of a workflow failure (WorkflowFailedError -> ActivityFailure -> ApplicationFailure). */
export function rootMessage(err: unknown): string {
  let current = err as { message?: string; cause?: unknown } | undefined;
  while (current?.cause) current = current.cause as { message?: string; cause?: unknown };
  return String(current?.message);
}

/** The innermost cause's ApplicationFailure type (e.g. the Element error name). */
export function rootType(err: unknown): string | undefined {
  let current = err as { type?: string; cause?: unknown } | undefined;
  while (current?.cause) current = current.cause as { type?: string; cause?: unknown };
  return current?.type;
}
