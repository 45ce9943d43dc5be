import type { Payload, PayloadCodec } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';

function isPayload(value: unknown): value is Payload {
  const metadata = (value as { metadata?: Record<string, unknown> } | null)?.metadata;
  return (
    typeof value === 'object' && value !== null && typeof metadata === 'object' && metadata !== null && 'encoding' in metadata
  );
}

/**
 * The history as a server would store it had the worker encoded with `codec`: every payload in
 * it (inputs, results, update arguments, heartbeat details, failure details) replaced, in place,
 * by its encoding; search attributes stay as they are, as a codec never sees them. Returns the number of payloads encoded.
 */
export async function encodeHistoryPayloads(history: History, codec: PayloadCodec): Promise<number> {
  let count = 0;
  const visit = async (node: unknown): Promise<void> => {
    if (typeof node !== 'object' || node === null || ArrayBuffer.isView(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'searchAttributes') continue; // the server indexes them: never encoded
      if (isPayload(value)) {
        (node as Record<string, unknown>)[key] = (await codec.encode([value]))[0];
        count += 1;
      } else await visit(value);
    }
  };
  await visit(history);
  return count;
}
