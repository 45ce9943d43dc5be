/**
 * The failure converter of an encrypting worker and client (and of every workflow bundle): a
 * failure's message and stack trace travel in its encoded attributes, a payload the codec
 * encrypts, instead of in plain fields of the history. Workflow-safe (bundled with the workflows).
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
