/**
 * `ekm status` while Temporal retries the running step's activity: the step table shows the
 * attempt and the last error, read from the run's pending activities; polls that found "not yet"
 * are not errors and leave the table as it was.
 */
import { activityRetries } from '../../src/cli/activity-retries';
import { renderProgress } from '../../src/cli/render';
import type { RunbookProgress } from '../../workflows/contract';
import { Failure } from '../../workflows/failures';

const progress: RunbookProgress = {
  runbook: 'setup',
  cluster: 'prod-a',
  state: 'running',
  startedAt: '2026-03-01T09:50:00.000Z',
  currentStep: 'precheck',
  steps: [
    { id: 'precheck', title: '0 Check the cluster', state: 'running', attempts: 1, startedAt: '2026-03-01T09:50:00.000Z' },
    { id: 'key-pair', title: '1 Make the key pair', state: 'pending', attempts: 0 },
  ],
  notes: [],
  answers: [],
};

const pending = (type: string, attempt: number) => [
  {
    activityType: { name: 'setupPrecheck' },
    attempt,
    lastFailure: { message: 'ListDrives: https://10.0.0.5 answered HTTP 503', applicationFailureInfo: { type } },
    nextAttemptScheduleTime: { seconds: 1772359000, nanos: 0 },
  },
];

const row = (text: string, step: string) => text.split('\n').find((line) => line.includes(` ${step} `)) ?? '';

describe('the step table while an activity is retried', () => {
  it('shows the attempt and the last error on the running step', () => {
    const retries = activityRetries(pending('ElementTransportError', 4));
    expect(retries).toEqual([
      {
        activityType: 'setupPrecheck',
        attempt: 4,
        lastError: 'ListDrives: https://10.0.0.5 answered HTTP 503 [ElementTransportError]',
        nextAttemptAt: '2026-03-01T09:56:40.000Z',
      },
    ]);
    const text = renderProgress(progress, { workflowId: 'ekm-setup-prod-a' }, Date.parse('2026-03-01T09:56:00Z'), { retries });
    expect(row(text, 'precheck')).toMatch(
      /running\s+4\s+.*retrying setupPrecheck \(attempt 4, next try at 2026-03-01T09:56:40.000Z\): ListDrives: https:\/\/10.0.0.5 answered HTTP 503 \[ElementTransportError\]/,
    );
    expect(row(text, 'key-pair')).toMatch(/pending\s+0\s/);
  });

  it('leaves out first attempts and polls that found "not yet"', () => {
    expect(activityRetries(pending('ElementTransportError', 1))).toEqual([]);
    expect(activityRetries(pending(Failure.StillRunning, 9))).toEqual([]);
    expect(activityRetries(pending(Failure.FaultStillPresent, 3))).toEqual([]);
    const text = renderProgress(progress, { workflowId: 'ekm-setup-prod-a' }, Date.now(), { retries: [] });
    expect(row(text, 'precheck')).toMatch(/running\s+1\s+.*0 Check the cluster/);
  });
});
