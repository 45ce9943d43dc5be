/**
 * The plan of a runbook (`ekm <runbook> … --plan`): what a run would do on a cluster as it is now,
 * read without changing anything. One document for every runbook, made by `planFor`
 * (src/plan) and checked with this schema by everything that prints or shows it (the CLI's
 * `--plan --json`, the fleet command, a web console). Workflow-safe: zod and data only.
 */
import { z } from 'zod';
import type { ElementMethodName } from '../../src/element/methods';
import { answerAction } from './progress';
import { runbookName } from './ids';
import { isoTime } from './messages';

/**
 * What an Element method does to the cluster, for plans and for tests on the simulator's call log:
 *  - read: changes nothing and contacts nothing outside the cluster (Get*, List*, GetAsyncResult
 *    with keepResult: true — without it the cluster forgets a finished result: see `readOnlyCall`);
 *  - test: TestKeyServerKmip and TestKeyProviderKmip make the cluster contact the key server over
 *    KMIP; the cluster's configuration is not changed, but the key server sees a connection (its log),
 *    a call can last the cluster's connect timeout, and whether a real cluster raises or clears
 *    kmipServerFault from a test is not documented. A plan does not call them; it lists them;
 *  - change: everything else a runbook calls (Create*, Modify*, Delete*, Add*, Remove*, Enable*,
 *    Disable*, Rekey*, ClearClusterFaults).
 */
export const methodEffect = z.enum(['read', 'test', 'change']);
export type MethodEffect = z.infer<typeof methodEffect>;

export const ELEMENT_METHOD_EFFECTS = {
  GetAPI: 'read',
  GetClusterInfo: 'read',
  GetClientCertificateSignRequest: 'read',
  GetKeyServerKmip: 'read',
  ListKeyServersKmip: 'read',
  GetKeyProviderKmip: 'read',
  ListKeyProvidersKmip: 'read',
  GetSoftwareEncryptionAtRestInfo: 'read',
  GetAsyncResult: 'read',
  ListAsyncResults: 'read',
  ListClusterFaults: 'read',
  ListDrives: 'read',
  TestKeyServerKmip: 'test',
  TestKeyProviderKmip: 'test',
  CreatePublicPrivateKeyPair: 'change',
  CreateKeyServerKmip: 'change',
  ModifyKeyServerKmip: 'change',
  DeleteKeyServerKmip: 'change',
  CreateKeyProviderKmip: 'change',
  DeleteKeyProviderKmip: 'change',
  AddKeyServerToProviderKmip: 'change',
  RemoveKeyServerFromProviderKmip: 'change',
  EnableEncryptionAtRest: 'change',
  DisableEncryptionAtRest: 'change',
  RekeySoftwareEncryptionAtRestMasterKey: 'change',
  ClearClusterFaults: 'change',
  AddDrives: 'change',
} as const satisfies Record<ElementMethodName, MethodEffect>;

/** The effect of a method by name; an unknown name counts as a change (never assumed harmless). */
export function methodEffectOf(method: string): MethodEffect {
  return (ELEMENT_METHOD_EFFECTS as Record<string, MethodEffect>)[method] ?? 'change';
}

/**
 * Whether a call changes nothing and contacts nothing: a read method, and GetAsyncResult only with
 * keepResult: true (without it a completed result is purged once returned: docs/element-api.md).
 */
export function readOnlyCall(method: string, params?: unknown): boolean {
  if (methodEffectOf(method) !== 'read') return false;
  if (method === 'GetAsyncResult') return (params as { keepResult?: unknown } | undefined)?.keepResult === true;
  return true;
}

/** One Element call a step would make, in order. */
export const plannedCall = z.strictObject({
  method: z.string(),
  effect: methodEffect,
  /** When it is made only in some case ("only if the provider does not exist", "polled"). */
  when: z.string().optional(),
});
export type PlannedCall = z.infer<typeof plannedCall>;

/** A wait the run would make, with its default or the value given (milliseconds). */
export const plannedWait = z.strictObject({
  what: z.string(),
  /** How long at most (a deadline), or the one wait's length. */
  forMs: z.int().nonnegative().optional(),
  /** How often it looks, reminds or retries meanwhile. */
  everyMs: z.int().nonnegative().optional(),
  /** The input field (or flag) that sets it. */
  setting: z.string().optional(),
});
export type PlannedWait = z.infer<typeof plannedWait>;

/** A question the run would put to a person. */
export const plannedQuestion = z.strictObject({
  when: z.string(),
  answers: z.array(answerAction),
  remindEveryMs: z.int().nonnegative().optional(),
});
export type PlannedQuestion = z.infer<typeof plannedQuestion>;

/**
 * What the run would do in a step:
 *  - create / reuse / modify: an object on the cluster (modify lists the fields);
 *  - run: the step runs (a test, a wait, a check);
 *  - skip: the run skips it (why says why);
 *  - maybe: it runs only in a case the plan cannot know in advance (when says which);
 *  - refuse: the precheck would refuse here (the refusals say why); nothing after it runs.
 */
export const plannedStepAction = z.enum(['create', 'reuse', 'modify', 'run', 'skip', 'maybe', 'refuse']);
export type PlannedStepAction = z.infer<typeof plannedStepAction>;

export const plannedStep = z.strictObject({
  /** The runbook's own step id (as in its progress). */
  id: z.string(),
  title: z.string(),
  action: plannedStepAction,
  /** What it would do (or find), in words. */
  detail: z.string(),
  /** modify: the fields that would change. */
  fields: z.array(z.string()).optional(),
  /** skip: why; maybe: in which case it runs. */
  why: z.string().optional(),
  calls: z.array(plannedCall),
  waits: z.array(plannedWait),
  asks: z.array(plannedQuestion),
});
export type PlannedStep = z.infer<typeof plannedStep>;

/** What the precheck would refuse: the Failure type the run would end with, and its message. */
export const planRefusal = z.strictObject({
  type: z.string(),
  message: z.string(),
  /** The run would retry this a while (the state may change: a transition under way), then fail. */
  retryable: z.boolean(),
});
export type PlanRefusal = z.infer<typeof planRefusal>;

/**
 * A time during which the cluster is exposed: from `opensAt` to `closesAt` (step ids).
 * drives-not-locked: setup --replace-internal-key (DisableEncryptionAtRest until enabled with the
 * provider); key-pair-mismatch: renew --new-key-pair (CreatePublicPrivateKeyPair until the new
 * certificate is installed and tested: a restart then could not fetch the keys).
 */
export const planWindow = z.strictObject({
  kind: z.enum(['drives-not-locked', 'key-pair-mismatch']),
  opensAt: z.string(),
  closesAt: z.string(),
  description: z.string(),
});
export type PlanWindow = z.infer<typeof planWindow>;

export const runbookPlan = z.strictObject({
  runbook: runbookName,
  cluster: z.string(),
  /** When the cluster was read. */
  readAt: isoTime,
  /** False when the precheck would refuse (exit 4 from `--plan`). */
  couldStart: z.boolean(),
  refusals: z.array(planRefusal),
  /** It takes the cluster lock (one mutating runbook per cluster at a time). */
  takesLock: z.boolean(),
  /** What the plan found on the cluster, in words. */
  facts: z.array(z.string()),
  steps: z.array(plannedStep),
  window: planWindow.optional(),
  /** The Element methods the plan itself called to read the cluster, in order (all read-only). */
  readWith: z.array(z.string()),
});
export type RunbookPlan = z.infer<typeof runbookPlan>;
