/**
 * What the worker says when it cannot start, in an operator's words: the setting to look at and
 * what is wrong with it, never the Temporal core's own error text alone (`tonic::transport::Error(…)`).
 */
import { ConfigError } from '../src/config/zod-errors';

export interface StartProblem {
  message: string;
  /** 2 for a setting or file with a mistake (as the CLI), 5 for a Temporal that cannot be reached, 1 otherwise. */
  exitCode: 1 | 2 | 5;
}

/** Why a TransportError's text says the connection failed (the Temporal core's error names, e.g. `ConnectionRefused`). */
const TRANSPORT_CAUSES: Array<[RegExp, string]> = [
  [/ConnectionRefused|connection refused/i, 'connection refused'],
  [/dns error|failed to lookup address|Name or service not known/i, 'the host name does not resolve'],
  [/TimeoutExpired|Timeout expired|timed out/i, 'no answer in time'],
  [/InvalidContentType|InvalidMessage|CorruptMessage|HandshakeFailure|tls handshake/i, 'the TLS handshake failed: is it a TLS port, and TEMPORAL_TLS_CA the CA of its certificate?'],
  [/UnknownIssuer|invalid peer certificate|CertNotValidForName|NotValidForName/i, "the server's certificate is not trusted (TEMPORAL_TLS_CA, TEMPORAL_TLS_SERVER_NAME)"],
];

export function describeStartProblem(err: unknown, settings: { TEMPORAL_ADDRESS: string; TEMPORAL_NAMESPACE: string } | undefined): StartProblem {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ConfigError) return { message, exitCode: 2 };
  const address = settings?.TEMPORAL_ADDRESS ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  if (/PrivateKeyParseError/.test(message)) {
    return { message: 'TEMPORAL_TLS_KEY: the file holds no private key the TLS client can read (PEM, PKCS#8, RSA or EC)', exitCode: 2 };
  }
  if (/NOT_FOUND: Namespace .* is not found/i.test(message)) {
    return {
      message: `TEMPORAL_NAMESPACE ${settings?.TEMPORAL_NAMESPACE ?? ''}: Temporal at ${address} has no such namespace (create it, e.g. deploy/register-search-attributes.sh)`,
      exitCode: 2,
    };
  }
  if ((err instanceof Error && err.name === 'TransportError') || /tonic::transport|Failed to call GetSystemInfo/.test(message)) {
    const cause = TRANSPORT_CAUSES.find(([pattern]) => pattern.test(message))?.[1];
    return { message: `cannot reach Temporal at ${address} (${cause ?? message})`, exitCode: 5 };
  }
  return { message, exitCode: 1 };
}
