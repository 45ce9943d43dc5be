/**
 * Messages shared by every runbook and its clients (CLI, tests): the progress query and the
 * operator's answers. Defined once here, imported by workflow code and by the client.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export type RunbookName = 'setup' | 'rekey' | 'recover-kmip-server-fault' | 'recover-slice-service' | 'fault-watcher';

export type StepState = 'pending' | 'running' | 'waiting-for-input' | 'done' | 'failed' | 'skipped';

export interface StepProgress {
  id: string;
  title: string;
  state: StepState;
  startedAt?: string;
  endedAt?: string;
  /** How many times the runbook ran this step (operator retries count; activity retries are in `lastError`). */
  attempts: number;
  lastError?: string;
  /** One line on what the step did or found. */
  detail?: string;
}

export type AnswerAction = 'retry' | 'fixed' | 'change' | 'extend' | 'abort';

/** What a waiting runbook needs from a person. */
export interface WaitingFor {
  kind: 'signed-certificate' | 'operator-decision' | 'cluster-lock';
  step: string;
  since: string;
  /** The question, in words an on-call engineer can act on. */
  prompt: string;
  /** The answers `ekm answer` accepts now. */
  answers: AnswerAction[];
  deadline?: string;
  reminders: number;
  /** The CSR to sign, when kind is signed-certificate. */
  csrPem?: string;
  /** The failure that led here (e.g. the key server test's error). */
  problem?: string;
}

export interface AnswerRecord {
  at: string;
  step: string;
  action: AnswerAction | 'submit-certificate';
  by?: string;
  outcome: 'accepted' | 'rejected';
  comment?: string;
}

export type RunbookState = 'running' | 'waiting-for-input' | 'completed' | 'failed' | 'cancelled';

export interface RunbookProgress {
  runbook: RunbookName;
  cluster: string;
  state: RunbookState;
  startedAt: string;
  endedAt?: string;
  currentStep?: string;
  steps: StepProgress[];
  waiting?: WaitingFor;
  /** Notable facts in order: what was reused, what was created or removed, reminders sent. */
  notes: string[];
  answers: AnswerRecord[];
  /** Setup: the cluster's CSR, once it exists (what `ekm csr` prints). */
  csrPem?: string;
  error?: string;
}

/** Any runbook: where it stands. */
export const progressQuery = defineQuery<RunbookProgress>('progress');

/** An operator's answer to a waiting runbook. The validator refuses answers not offered now. */
export type OperatorAnswer =
  | { action: 'retry'; by?: string; comment?: string }
  | { action: 'fixed'; by?: string; comment?: string }
  | { action: 'abort'; by?: string; reason: string }
  | { action: 'extend'; by?: string; extendBy: string; comment?: string }
  | {
      action: 'change';
      by?: string;
      comment?: string;
      hostnames?: string[];
      port?: number;
      kmipCaCertificate?: string;
      /** A new client certificate for the cluster's key pair (e.g. signed by the CA the key server trusts), with its CA chain. */
      clientCertificate?: { certificatePem: string; caChainPem: string };
    };

export interface AnswerAccepted {
  accepted: true;
  step: string;
  message: string;
}

export const answerUpdate = defineUpdate<AnswerAccepted, [OperatorAnswer]>('answer');

/** The CA-signed client certificate for the setup runbook's CSR, with the CA chain that issued it. */
export interface SignedCertificateSubmission {
  certificatePem: string;
  caChainPem: string;
  by?: string;
}

export interface CertificateAccepted {
  accepted: true;
  subject: string;
  notAfter: string;
  fingerprint: string;
}

export const submitCertificateUpdate = defineUpdate<CertificateAccepted, [SignedCertificateSubmission]>('submitCertificate');

/** The cluster lock tells a waiting runbook it may go on (or that the cluster is busy). */
export interface LockHolder {
  workflowId: string;
  runId: string;
  runbook: RunbookName;
  since: string;
}
export const lockGrantedSignal = defineSignal<[{ lockRunId: string }]>('clusterLockGranted');
export const lockDeniedSignal = defineSignal<[{ holder: LockHolder }]>('clusterLockDenied');
