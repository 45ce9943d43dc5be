import type { Payload, PayloadCodec } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

function isPayload(value: unknown): value is Payload {
  const metadata = (value as { metadata?: Record<string, unknown> } | null)?.metadata;
  return (
    typeof value === 'object' && value !== null && typeof metadata === 'object' && metadata !== null && 'encoding' in metadata
  );
}

/**
 * Replaces, in place, every payload of a history (inputs, results, update arguments, heartbeat
 * details, failure details) by `transform(payload)`; search attributes stay as they are, as a
 * codec never sees them. `field` is the name the payload sits under. Returns the number of payloads transformed.
 */
export async function transformHistoryPayloads(
  history: History,
  transform: (p: Payload, field: string) => Promise<Payload>,
): Promise<number> {
  let count = 0;
  const visit = async (node: unknown): Promise<void> => {
    if (typeof node !== 'object' || node === null || ArrayBuffer.isView(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'searchAttributes') continue; // the server indexes them: never encoded
      if (isPayload(value)) {
        (node as Record<string, unknown>)[key] = await transform(value, key);
        count += 1;
      } else await visit(value);
    }
  };
  await visit(history);
  return count;
}

/** The history as a server would store it had the worker encoded with `codec`. */
export function encodeHistoryPayloads(history: History, codec: PayloadCodec): Promise<number> {
  return transformHistoryPayloads(history, async (p) => (await codec.encode([p]))[0]!);
}

/** Every string and every byte field (read as UTF-8) of a protobuf object: what a reader of the server's store sees. */
export function rawText(node: unknown): string {
  if (typeof node === 'string') return node;
  if (ArrayBuffer.isView(node)) return Buffer.from(node.buffer, node.byteOffset, node.byteLength).toString('utf8');
  if (typeof node !== 'object' || node === null) return '';
  return Object.values(node)
    .map((value) => rawText(value))
    .filter(Boolean)
    .join('\n');
}
