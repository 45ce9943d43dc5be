/**
 * Whether Temporal's address takes TCP connections at all, for the CLI and the console: the SDK's
 * lazy connection retries a refused address until the call's deadline, so a Temporal that is down
 * would otherwise look like one that is slow, and be said as such only when the bound ran out.
 */
import net from 'node:net';
import { formatDuration } from '../durations';

/** The longest the probe waits for a TCP connection. */
export const PROBE_MS = 3000;

/**
 * Why Temporal's address takes no TCP connection ("connection refused", "no such host", "no
 * answer within 3s"), or undefined once one is made. Run beside a request's calls that are slow
 * to answer, so a Temporal that is down gives its page at once, not after the SDK's retries use
 * up the bound.
 */
export function unreachableBecause(address: string, withinMs = PROBE_MS): Promise<string | undefined> {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!match) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const socket = net.connect({ host: match[1], port: Number(match[2]) });
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(`no connection within ${formatDuration(withinMs)}`), withinMs);
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(
        (
          {
            ECONNREFUSED: 'connection refused',
            ENOTFOUND: 'no such host',
            EAI_AGAIN: 'the host name could not be resolved now',
            EHOSTUNREACH: 'host unreachable',
            ENETUNREACH: 'network unreachable',
            ETIMEDOUT: 'connection timed out',
          } as Record<string, string>
        )[err.code ?? ''] ??
          err.code ??
          err.message,
      ),
    );
  });
}
