/**
 * Setup with replaceInternalKey (`ekm setup … --mode hardware --replace-internal-key`): hardware
 * encryption at rest is on with the cluster's internal keys, and administrators move it to the
 * provider by disabling it and enabling it again with the keyProviderID (docs/procedures.md). From
 * the disable until encryption is enabled again the drives are not locked, so:
 *  - the key server and the provider are tested again, in their own steps, just before the disable;
 *  - the disable, the wait for disabled, the enable and the wait for enabled are steps whose
 *    activities look at encryptionAtRestState first: a retry never disables or enables twice;
 *  - from the disable on, a failure never ends the run: it notifies `escalated` and asks retry,
 *    enable-internal (encryption on again with the cluster's internal keys, the move given up) or
 *    abort, which must name the cluster; a failing enable is also tried on a growing interval;
 *  - the progress shows the window (`ekm status` first), and `ekm cancel` takes effect only once
 *    encryption is enabled again.
 */
import { ApplicationFailure, CancellationScope, condition, isCancellation, type RetryPolicy } from '@temporalio/workflow';
import type { HardwareEncryption } from '../activities/hardware-encryption';
import { formatDuration } from '../src/durations';
import { clusterCalls, pollingCalls } from './calls';
import type { OperatorAnswer } from './contract';
import { describeFailure, Failure } from './failures';
import type { SetupOptions } from './inputs';
import type { KeyServerSetup } from './key-server';
import { abortedBy } from './operator';
import { now, stepInProse, type RunbookTracker } from './progress';

/** Setup's steps only this path runs (`enable`, step 3, is shared); other setups skip them. */
export const REPLACE_INTERNAL_KEY_STEPS = [
  'retest-server',
  'retest-provider',
  'disable',
  'await-disabled',
  'enable-internal',
  'await-enabled',
] as const;
type Step = (typeof REPLACE_INTERNAL_KEY_STEPS)[number] | 'enable';
type Run = RunbookTracker<Step>;

/** The enable's own tries while a person is asked: from the test interval, doubling up to this. */
const ENABLE_RETRY_MAX_INTERVAL_MS = 30 * 60_000;

/** When the drives were not locked: from the disable until encryption was enabled with the provider. */
export interface UnlockedWindow {
  since: string;
  until: string;
}

type GaveUp = Extract<OperatorAnswer, { action: 'enable-internal' }>;
type Decision = 'worked' | Extract<OperatorAnswer, { action: 'retry' | 'enable-internal' }>;

export function skipInternalKeyReplacement(run: Run, why: string): void {
  for (const id of REPLACE_INTERNAL_KEY_STEPS) run.skip(id, why);
}

/**
 * Step 3 for hardware encryption on the cluster's internal keys: test again, disable, wait, enable
 * with the provider, wait. Returns the window the drives were not locked; ends the run
 * InternalKeysRestored when a person chose enable-internal, or RunbookAborted on a confirmed abort.
 */
export async function replaceInternalKey(
  run: Run,
  input: SetupOptions,
  setup: { keyProviderID: number; server: KeyServerSetup; testRetry: RetryPolicy },
): Promise<UnlockedWindow> {
  const move = new InternalKeyReplacement(run, input, setup.keyProviderID, setup.server, setup.testRetry);
  await move.testAgain();
  move.deferCancellation();
  return CancellationScope.nonCancellable(() => move.whileUnprotected());
}

class InternalKeyReplacement {
  private readonly cluster: string;
  private readonly calls: ReturnType<typeof clusterCalls>;
  private readonly reachesKeyServer: ReturnType<typeof clusterCalls>;
  /** One try each, for the enable's own tries while a person is asked. */
  private readonly tryOnce: ReturnType<typeof clusterCalls>;
  private readonly wait: ReturnType<typeof pollingCalls>;
  private unprotected = false;

  constructor(
    private readonly run: Run,
    private readonly input: SetupOptions,
    private readonly keyProviderID: number,
    private readonly server: KeyServerSetup,
    testRetry: RetryPolicy,
  ) {
    this.cluster = input.cluster;
    this.calls = clusterCalls({ timeoutMs: input.activityTimeoutMs });
    this.reachesKeyServer = clusterCalls({ timeoutMs: input.activityTimeoutMs, retry: testRetry });
    this.tryOnce = clusterCalls({ timeoutMs: input.activityTimeoutMs, retry: { maximumAttempts: 1 } });
    this.wait = pollingCalls(input.polling, { deadlineMs: 24 * 3_600_000 });
  }

  /** The key server and the provider pass their tests just before the disable (not taken from steps 2b and 2c). */
  async testAgain(): Promise<void> {
    const { run, cluster, server } = this;
    await run.stepOrAsk(
      'retest-server',
      () => this.reachesKeyServer.testKeyServer(cluster, server.keyServerID!),
      server.askOnFailure,
      () => 'key server answers over KMIP, just before the disable',
    );
    await run.stepOrAsk(
      'retest-provider',
      () => this.reachesKeyServer.testKeyProvider(cluster, this.keyProviderID),
      server.askOnFailure,
      () => 'provider answers over KMIP, just before the disable',
    );
  }

  /** `ekm cancel` from the disable on waits for encryption to be enabled again; the notes say so. */
  deferCancellation(): void {
    CancellationScope.current().cancelRequested.catch(() => {
      if (!this.unprotected) return;
      this.run.note(
        `cancellation requested: it takes effect once encryption at rest is enabled again; to end the run now and leave the drives unprotected, answer abort --confirm-unprotected ${this.cluster}`,
      );
    });
  }

  async whileUnprotected(): Promise<UnlockedWindow> {
    const { run, cluster } = this;
    this.unprotected = true;
    const gaveUp = (await this.disable()) ?? (await this.enableWithProvider());
    const drives = gaveUp ? await this.restoreInternalKeys(gaveUp) : undefined;
    const window = { since: run.encryptionAtRestDisabledSince ?? now(), until: now() };
    run.setEncryptionAtRestDisabled(false);
    this.unprotected = false;
    const took = formatDuration(Date.parse(window.until) - Date.parse(window.since));
    const underProvider = drives?.keyManagementType === 'external' && drives.keyProviderIDs.join() === String(this.keyProviderID);
    if (drives && !underProvider) {
      const message = `hardware encryption at rest on ${cluster} is enabled again with the cluster's internal keys (${describeKeys(drives)}) after ${gaveUp!.by ?? 'an operator'} answered enable-internal; the move to key provider ${this.keyProviderID} was given up (the provider and key server are kept for another attempt)`;
      run.note(`${message}; the drives were not locked for ${took}`);
      throw ApplicationFailure.nonRetryable(message, Failure.InternalKeysRestored);
    }
    if (!gaveUp) run.skip('enable-internal', 'not needed: enabled with the provider');
    run.note(`encryption at rest enabled with key provider ${this.keyProviderID}: the drives were not locked for ${took}`);
    return window;
  }

  /** DisableEncryptionAtRest, then the wait for disabled. Undefined when done; the answer when a person gave up. */
  private async disable(): Promise<GaveUp | undefined> {
    const { run, cluster } = this;
    for (;;) {
      try {
        await run.step(
          'disable',
          () => this.calls.disableHardwareEncryption(cluster),
          (d) => (d.issued ? 'DisableEncryptionAtRest: disabling' : `encryption at rest was already ${d.state}`),
        );
        if (run.encryptionAtRestDisabledSince === undefined) {
          run.setEncryptionAtRestDisabled(true);
          run.note(`encryption at rest disabling on ${cluster}: its drives are not locked until it is enabled again`);
        }
        await run.step(
          'await-disabled',
          () => this.wait.awaitHardwareEncryptionDisabled(cluster, this.input.polling),
          () => 'encryptionAtRestState disabled',
        );
        return undefined;
      } catch (err) {
        const decision = await this.escalate(run.currentStep as Step, err);
        if (decision !== 'worked' && decision.action === 'enable-internal') return decision;
        // retry: from the disable again (it looks at the state first)
      }
    }
  }

  /** EnableEncryptionAtRest with the provider, then the wait for enabled; a failing enable is also tried on its own. */
  private async enableWithProvider(): Promise<GaveUp | undefined> {
    const { run, cluster } = this;
    let enabled = false;
    for (;;) {
      try {
        if (!enabled)
          await run.step(
            'enable',
            () => this.reachesKeyServer.enableHardwareEncryption(cluster, this.keyProviderID),
            describeEnable,
          );
        enabled = true;
        await run.step('await-enabled', () => this.awaitEnabled(), describeEnabled);
        return undefined;
      } catch (err) {
        const tryAgain = enabled
          ? undefined
          : async () => describeEnable(await this.tryOnce.enableHardwareEncryption(cluster, this.keyProviderID));
        const decision = await this.escalate(run.currentStep as Step, err, tryAgain);
        if (decision !== 'worked' && decision.action === 'enable-internal') return decision;
        // a try of its own worked: on to the wait; retry: from the enable (it looks at the state first)
        enabled = decision === 'worked';
      }
    }
  }

  /**
   * enable-internal: EnableEncryptionAtRest without a provider and the wait for enabled, so the
   * drives are locked again; a failure asks again. Returns what key the drives are under (the
   * provider's, when its enable went through after all).
   */
  private async restoreInternalKeys(answer: GaveUp): Promise<HardwareEncryption> {
    const { run, cluster } = this;
    const given = `given up: ${answer.by ?? 'an operator'} answered enable-internal`;
    if (run.stepOf('enable').state === 'pending') run.skip('enable', given);
    else if (run.stepOf('enable').state !== 'done') run.fail('enable', given);
    for (;;) {
      try {
        await run.step(
          'enable-internal',
          () => this.calls.enableInternalHardwareEncryption(cluster),
          (r) =>
            r.started ? 'EnableEncryptionAtRest with internal keys: enabling' : `encryption at rest was already ${r.state}`,
        );
        return await run.step('await-enabled', () => this.awaitEnabled(), describeEnabled);
      } catch (err) {
        await this.escalate(run.currentStep as Step, err); // retry or enable-internal: the same again
      }
    }
  }

  private async awaitEnabled(): Promise<HardwareEncryption> {
    await this.wait.awaitHardwareEncryption(this.cluster, this.input.polling);
    return this.calls.readHardwareEncryption(this.cluster);
  }

  /**
   * A step failed while the drives may not be locked, which never ends the run: notifies
   * `escalated` and asks retry, enable-internal or abort (confirmed by the cluster's name). With
   * `tryAgain` it also tries on its own meanwhile, the interval doubling up to 30 minutes, and
   * stops asking when a try works ('worked', the step done).
   */
  private async escalate(step: Step, failure: unknown, tryAgain?: () => Promise<string>): Promise<Decision> {
    const { run, cluster } = this;
    const since = run.encryptionAtRestDisabledSince;
    const state = since
      ? `encryption at rest is DISABLED on ${cluster} since ${since}: its drives are not locked`
      : `DisableEncryptionAtRest may have reached ${cluster}: its drives may not be locked`;
    const problem = describeFailure(failure);
    run.note(`escalated: ${state}; ${step} failed: ${problem}`);
    run.notify('escalated', `${state}; ${step} failed`, problem, { step, encryptionAtRestDisabledSince: since });
    let answer: OperatorAnswer | undefined;
    const scope = new CancellationScope();
    const asking = scope
      .run(() =>
        run.ask({
          step,
          prompt:
            `ESCALATED: ${state}. ${capitalized(stepInProse(step, run.stepOf(step).title))} failed${tryAgain ? '; the runbook keeps trying on a growing interval' : ''}. ` +
            "Answer retry (try now), enable-internal (encryption at rest enabled again with the cluster's internal keys: the drives are locked again, the move to the provider is given up) " +
            `or abort --confirm-unprotected ${cluster} (ends the run and LEAVES THE DRIVES UNPROTECTED)`,
          answers: ['retry', 'enable-internal', 'abort'],
          problem,
          remindEveryMs: this.input.questionReminderEveryMs,
          abortRequires: { confirmUnprotected: cluster },
        }),
      )
      .then(
        (a) => void (answer = a),
        (err: unknown) => {
          if (!isCancellation(err)) throw err;
        },
      );
    const stopAsking = async () => {
      scope.cancel();
      await asking;
    };
    let intervalMs = this.input.testRetryIntervalMs;
    try {
      for (;;) {
        if (!tryAgain) await condition(() => answer !== undefined);
        else if (!(await condition(() => answer !== undefined, intervalMs))) {
          try {
            const detail = await tryAgain();
            await stopAsking();
            if (answer) run.note(`${answer.action} from ${answer.by ?? 'an operator'} not needed: a try of its own worked`);
            run.complete(step, detail);
            return 'worked';
          } catch (err) {
            if (isCancellation(err)) throw err;
            run.attempt(step, err);
            run.setProblem(describeFailure(err));
            intervalMs = Math.min(intervalMs * 2, ENABLE_RETRY_MAX_INTERVAL_MS);
            continue;
          }
        }
        await asking;
        if (answer!.action === 'abort') {
          run.note(`abort confirmed by ${answer!.by ?? 'an operator'}: ${state}, and stays so`);
          throw abortedBy(answer!);
        }
        return answer as Exclude<Decision, 'worked'>;
      }
    } finally {
      if (answer === undefined) await stopAsking();
    }
  }
}

const describeEnable = (r: { started: boolean; state: string }) =>
  r.started ? 'EnableEncryptionAtRest with the provider: enabling' : `encryption at rest was already ${r.state}`;

const describeEnabled = (h: HardwareEncryption) => `encryptionAtRestState ${h.encryptionAtRestState}: ${describeKeys(h)}`;

function describeKeys(h: HardwareEncryption): string {
  if (h.keyManagementType === 'internal') return `drives locked with the cluster's internal key ${h.keyIDs.join(', ')}`;
  if (h.keyManagementType === 'external') return `drives locked with a key from key provider ${h.keyProviderIDs.join(', ')}`;
  return h.keyManagementType === 'none'
    ? 'no drive under a key'
    : `drives under several keys (providers ${h.keyProviderIDs.join(', ')})`;
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
