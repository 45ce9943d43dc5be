/**
 * The failure types runbooks and activities end with (ApplicationFailure.type), in one place,
 * each with what it means. Clients branch on them (exit codes, reports). Element's own error
 * names (xUnknownAccount, xInvalidParameter, ...) pass through unchanged as failure types and are
 * not listed here (docs/element-api.md). Workflow-safe.
 */
import { ActivityFailure, ApplicationFailure, TemporalFailure } from '@temporalio/common';

export const Failure = {
  // The run itself
  /** The runbook's input failed its schema; the message names the fields. */
  InvalidInput: 'InvalidInput',
  /** An operator ended the run with the `abort` answer. */
  RunbookAborted: 'RunbookAborted',
  /** Another mutating runbook holds the cluster lock and the run was started with ifBusy 'fail'. */
  ClusterBusy: 'ClusterBusy',
  /** An answer or a certificate came after another one had taken the open question (both sent while no worker ran, say). */
  QuestionTaken: 'QuestionTaken',
  /** A bug: the runbook reached a state its code does not allow. */
  InternalError: 'InternalError',
  /** The worker's clusters file or settings are wrong for this cluster (the message names the field). */
  ConfigError: 'ConfigError',

  // Prechecks: the cluster is not in a state the procedure may start from
  /** The pinned Element API version lacks the methods the mode needs (KMIP 11.7, software encryption 12.3). */
  UnsupportedVersion: 'UnsupportedVersion',
  /** Software encryption at rest is not enabled (it can only be enabled when the cluster is created). */
  SoftwareEncryptionNotEnabled: 'SoftwareEncryptionNotEnabled',
  /** Hardware encryption is already on without the asked provider (on internal keys: setup moves it only with replaceInternalKey). */
  EncryptionAlreadyEnabled: 'EncryptionAlreadyEnabled',
  /** Key servers of an active provider use the key pair; replacing it needs an explicit new-key-pair. */
  KeyServersInUse: 'KeyServersInUse',
  /** Several key providers or key servers carry the name the runbook looks for. */
  AmbiguousName: 'AmbiguousName',
  /** No key provider matches the selector (id, name or the active one). */
  KeyProviderNotFound: 'KeyProviderNotFound',
  /** The selector matches several key providers. */
  KeyProviderAmbiguous: 'KeyProviderAmbiguous',
  /** The key provider has no key server to take keys from. */
  KeyProviderHasNoServer: 'KeyProviderHasNoServer',
  /** The key provider already holds another key server, and a provider holds only one. */
  KeyProviderHasOtherServer: 'KeyProviderHasOtherServer',
  /** A recovery found no active key provider (or not the one the fault names). */
  NoActiveKeyProvider: 'NoActiveKeyProvider',
  /** The key server's client certificate certifies another key than the cluster's key pair (replaced since it was issued): a renewal keeps the key pair a certificate certifies. */
  KeyPairMismatch: 'KeyPairMismatch',
  /** The key server's CA certificate expires within 30 days and the renewal was given no renewed one (kmipCaCertificate). */
  KmipCaExpiring: 'KmipCaExpiring',
  /** The drives asked for are not the fault's failed metadata drives, or no longer exist. */
  DrivesRefused: 'DrivesRefused',
  /** The faults name no drive and several available metadata drives could be the failed ones: a person picks. */
  DrivesAmbiguous: 'DrivesAmbiguous',

  // Trust: key pair, CSR, certificate
  /** The cluster reports no key pair after CreatePublicPrivateKeyPair. */
  KeyPairMissing: 'KeyPairMissing',
  /** The cluster's key pair changed under the runbook: the CSR is for another key. */
  KeyPairChanged: 'KeyPairChanged',
  /** The key server's certificates changed under the renewal: neither the ones it found nor the ones it installed. */
  KeyServerChanged: 'KeyServerChanged',
  /** The tests failed after the modify and the previous certificate could not be put back: the cluster holds the new, untested one. */
  PreviousCertificateNotRestored: 'PreviousCertificateNotRestored',
  /** A signed certificate failed the checks (the message lists them). */
  CertificateRejected: 'CertificateRejected',
  /** The setup input names a signer the worker's clusters file does not have. */
  UnknownSigner: 'UnknownSigner',
  /** The signer (cfssl, a command) answered but refused to sign. */
  SignerRefused: 'SignerRefused',
  /** The signing command failed or printed no certificate. */
  SignerFailed: 'SignerFailed',
  /** The signer could not be reached (retried). */
  SignerUnavailable: 'SignerUnavailable',

  // Waiting for the cluster
  /** An async job, or a state change without a handle, is still under way (retried; not written to history). */
  StillRunning: 'AsyncJobStillRunning',
  /** The fault is still current (the infrequent-poll "not yet"). */
  FaultStillPresent: 'FaultStillPresent',
  /** The worker is stopping (SIGTERM): the activity is handed back to be retried at once by another. */
  WorkerStopping: 'WorkerStopping',
  /** encryptionAtRestState left the enabling path while the runbook waited for enabled. */
  EncryptionNotEnabling: 'EncryptionNotEnabling',
  /** encryptionAtRestState left the disabling path while the runbook waited for disabled (replaceInternalKey). */
  EncryptionNotDisabling: 'EncryptionNotDisabling',
  /** An answer lacks fields the documented method returns. */
  UnexpectedResponse: 'UnexpectedResponse',
  /** A finished async job's result lacks the fields of its method. */
  UnexpectedAsyncResult: 'UnexpectedAsyncResult',

  // Verifying the end state
  /** After a rekey, GetSoftwareEncryptionAtRestInfo does not show the new key as asked. */
  RekeyNotVerified: 'RekeyNotVerified',
  /** A rekey's async result was purged and the cluster no longer names that rekey as its latest: how it ended cannot be told (none is started again). */
  RekeyOutcomeUnknown: 'RekeyOutcomeUnknown',
  /** After setup, the provider, server or encryption state is not what the run made. */
  SetupNotVerified: 'SetupNotVerified',
  /** replaceInternalKey: a person answered enable-internal; hardware encryption is on with internal keys again, the move was given up. */
  InternalKeysRestored: 'InternalKeysRestored',
  /** The renewed certificate is installed and tested, but the cluster still reports kmipCertificateFault after the resolve window. */
  CertificateFaultNotResolved: 'CertificateFaultNotResolved',
  /** The cluster reports a new external key that the key server itself does not have. */
  KeyNotOnKmipServer: 'KeyNotOnKmipServer',
  /** The key server refused the worker's kmipCheck identity. */
  KmipCheckRefused: 'KmipCheckRefused',
  /** No key server of the provider could be asked about the key (retried). */
  KmipCheckUnreachable: 'KmipCheckUnreachable',
} as const;

export type FailureType = (typeof Failure)[keyof typeof Failure];

/**
 * Element answers that no answer of a person can turn around: the cluster does not permit the call
 * (an Element demo VM answers EnableEncryptionAtRest with xAPINotPermitted "Encryption is not
 * supported on demo nodes.") or does not know the method or version. A step that gets one ends the
 * run with the cluster's own words instead of asking retry/change/abort.
 */
export const UNCHANGEABLE_ELEMENT_REFUSALS: readonly string[] = [
  'xAPINotPermitted',
  'xUnknownAPIMethod',
  'xUnknownAPIVersion',
  'xUnknownRPCMethod',
];

/** The innermost ApplicationFailure of an activity failure, if any. */
function applicationFailureOf(err: unknown): ApplicationFailure | undefined {
  let current: unknown = err;
  while (current instanceof TemporalFailure && !(current instanceof ApplicationFailure)) current = current.cause;
  return current instanceof ApplicationFailure ? current : undefined;
}

export function isUnchangeableRefusal(err: unknown): boolean {
  const failure = applicationFailureOf(err);
  return failure?.type !== undefined && failure.type !== null && UNCHANGEABLE_ELEMENT_REFUSALS.includes(failure.type);
}

/** The message an operator should read for a failure: the activity's own error, not Temporal's wrapper. */
export function describeFailure(err: unknown): string {
  let current: unknown = err;
  while (
    current instanceof ActivityFailure ||
    (current instanceof TemporalFailure && current.cause && !(current instanceof ApplicationFailure))
  ) {
    current = (current as TemporalFailure).cause;
  }
  if (current instanceof ApplicationFailure) return current.type ? `${current.type}: ${current.message}` : current.message;
  if (current instanceof Error) return current.message;
  return String(current);
}
