/**
 * `--wait` ends a failed run with what failed it, in the runbook's words. A refusal raised in an
 * activity (a renewal's precheck: KeyPairMismatch) reaches the client as
 * WorkflowFailedError -> ActivityFailure ("Activity task failed") -> ApplicationFailure; the line
 * printed was `FAILED: Activity task failed`. Built from the SDK's own failure classes.
 */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, WorkflowFailedError } from '@temporalio/client';
import { runFailureMessage } from '../../src/cli/follow';

const refusal = ApplicationFailure.nonRetryable(
  'key server 21 "ks1"\'s client certificate certifies another key',
  'KeyPairMismatch',
);

describe('the reason --wait prints for a failed run', () => {
  it('an activity failure: the application failure inside it, with its type', () => {
    const activity = new ActivityFailure(
      'Activity task failed',
      'renewPrecheck',
      '3',
      'NON_RETRYABLE_FAILURE',
      'worker-1',
      refusal,
    );
    const err = new WorkflowFailedError('Workflow execution failed', activity, 'NON_RETRYABLE_FAILURE');
    expect(runFailureMessage(err)).toBe('KeyPairMismatch: key server 21 "ks1"\'s client certificate certifies another key');
  });

  it('a failure the workflow raised itself, or one inside a child workflow, the same way', () => {
    expect(runFailureMessage(new WorkflowFailedError('Workflow execution failed', refusal, 'NON_RETRYABLE_FAILURE'))).toBe(
      'KeyPairMismatch: key server 21 "ks1"\'s client certificate certifies another key',
    );
    const child = new ChildWorkflowFailure(
      'default',
      { workflowId: 'ekm-lock-prod-a', runId: 'r' },
      'clusterLock',
      'NON_RETRYABLE_FAILURE',
      refusal,
    );
    expect(runFailureMessage(new WorkflowFailedError('Workflow execution failed', child, 'NON_RETRYABLE_FAILURE'))).toContain(
      'KeyPairMismatch: ',
    );
  });

  it('anything else: its own message', () => {
    expect(runFailureMessage(new Error('Workflow execution timed out'))).toBe('Workflow execution timed out');
  });
});
