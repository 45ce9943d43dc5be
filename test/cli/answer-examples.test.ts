/**
 * `ekm status` lists the answers a waiting run accepts as commands to copy. `change` takes what
 * that runbook can change: a renewal only certificates (host names and port are ignored by it, so
 * suggesting them would send an answer that changes nothing), a slice recovery only drives.
 */
import { renderProgress } from '../../src/cli/render';
import type { RunbookProgress } from '../../workflows/contract';

const SINCE = '2026-03-01T10:00:00.000Z';

function waitingAt(runbook: RunbookProgress['runbook'], step: string): RunbookProgress {
  return {
    runbook,
    cluster: 'prod-a',
    state: 'waiting-for-input',
    startedAt: SINCE,
    currentStep: step,
    steps: [{ id: step, title: step, state: 'waiting-for-input', attempts: 5 }],
    notes: [],
    answers: [],
    waiting: {
      kind: 'operator-decision',
      step,
      since: SINCE,
      prompt: 'the tests failed',
      answers: ['retry', 'change', 'abort'],
      reminders: 0,
    },
  };
}

function changeLine(runbook: RunbookProgress['runbook'], step: string, workflowId: string): string {
  const text = renderProgress(waitingAt(runbook, step), { workflowId }, Date.parse(SINCE));
  const line = text.split('\n').find((l) => l.includes(`ekm answer ${workflowId} change`));
  expect(line).toBeDefined();
  return line!.trim();
}

describe('the change answer ekm status suggests', () => {
  it('a renewal: the client certificate and the KMIP CA, no host names or port', () => {
    const line = changeLine('renew', 'install', 'ekm-renew-prod-a');
    expect(line).toBe('ekm answer ekm-renew-prod-a change [--client-cert c.pem --client-ca ca.pem] [--kmip-ca ca.pem]');
    expect(line).not.toContain('--hostnames');
    expect(line).not.toContain('--port');
  });

  it('a slice recovery: the drives to add back', () => {
    expect(changeLine('recover-slice-service', 'find-drives', 'ekm-recover-slice-prod-a')).toBe(
      'ekm answer ekm-recover-slice-prod-a change --drives 12,13',
    );
  });

  it('a setup: host names, port, KMIP CA or client certificate, as before', () => {
    expect(changeLine('setup', 'test-server', 'ekm-setup-prod-a')).toContain('change --hostnames kms1.example.com');
  });
});
