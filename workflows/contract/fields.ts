/** The fields inputs and answers share: printable text, host names, Element ids. Workflow-safe. */
import { z } from 'zod';

/** Names and subject fields: printable text (no control characters), within the lengths X.509 and Element allow. */
export const printable = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(/^[^\p{C}]+$/u, 'must be printable text (no control characters or line breaks)');

/** Element ids are positive (0 means "none" in its answers). */
export const elementId = z.number().int('must be a whole number').positive('must be a positive id');

/** A host name or IP address, as Element's kmipKeyServerHostnames take it. */
export const hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9a-fA-F:.]+$/,
    {
      message: 'must be a host name or IP address (no scheme, no port)',
    },
  );
