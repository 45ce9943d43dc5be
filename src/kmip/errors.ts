import type { KmipConnectionFailure } from './api';
import { operationName, resultReasonName, resultStatusName } from './tags';

/** Base of every error this client throws on purpose; `server` is "host:port". */
export abstract class KmipError extends Error {
  constructor(
    message: string,
    readonly server: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The conversation with the server failed: it could not be reached, TLS was refused either way,
 * it did not answer in time, or it answered something that is not a KMIP response. The session
 * that threw this is closed.
 */
export class KmipConnectionError extends KmipError {
  /** Node's error code when there was one (ECONNREFUSED, ERR_TLS_CERT_ALTNAME_INVALID, ...). */
  readonly code: string | undefined;

  constructor(
    readonly failure: KmipConnectionFailure,
    server: string,
    /** What went wrong, completing "KMIP server host:port ..." */
    detail: string,
    options?: { cause?: unknown; code?: string },
  ) {
    super(`KMIP server ${server} ${detail}`, server, options);
    this.name = 'KmipConnectionError';
    this.code = options?.code;
  }
}

/** The server answered, and the answer was a refusal (ResultStatus other than Success). */
export class KmipOperationError extends KmipError {
  readonly operationName: string;
  readonly reasonName: string;

  constructor(
    server: string,
    readonly operation: number,
    readonly resultStatus: number,
    /** Absent only when the server sent no ResultReason (the spec requires one on failure). */
    readonly resultReason: number | undefined,
    /** The server's ResultMessage, verbatim. */
    readonly resultMessage: string | undefined,
  ) {
    const opName = operationName(operation);
    const reasonName = resultReason === undefined ? resultStatusName(resultStatus) : resultReasonName(resultReason);
    const code = resultReason === undefined ? '' : ` (0x${resultReason.toString(16).toUpperCase().padStart(2, '0')})`;
    const said = resultMessage ? `: ${resultMessage}` : '';
    super(`KMIP server ${server} rejected the ${opName} request: ${reasonName}${code}${said}`, server);
    this.name = 'KmipOperationError';
    this.operationName = opName;
    this.reasonName = reasonName;
  }
}

/** A message that does not have the shape KMIP requires (missing or mistyped field). */
export class KmipMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KmipMessageError';
  }
}
