/**
 * The CLI side of setup --replace-internal-key, in process (no server): `ekm status` says first,
 * red on a terminal, that encryption at rest is disabled and shows how to abort with the
 * confirmation; `ekm answer` builds enable-internal and a confirmed abort and refuses
 * --confirm-unprotected on other answers; `ekm setup --replace-internal-key` sets the input field,
 * which the input schema accepts only for hardware mode.
 */
import { buildAnswer } from '../../src/cli/commands/runs';
import { setupInputFromFlags } from '../../src/cli/commands/setup';
import { ExitCode } from '../../src/cli/exit-codes';
import { renderProgress } from '../../src/cli/render';
import type { RunbookProgress } from '../../workflows/contract';
import { describeIssues, setupInput } from '../../workflows/inputs';
import { cliRefusal } from '../support/cli-refusal';

const SINCE = '2026-03-01T10:00:00.000Z';

function progress(extra: Partial<RunbookProgress> = {}): RunbookProgress {
  return {
    runbook: 'setup',
    cluster: 'prod-a',
    state: 'waiting-for-input',
    startedAt: '2026-03-01T09:50:00.000Z',
    currentStep: 'enable',
    steps: [{ id: 'enable', title: '3 Turn on encryption with the provider', state: 'waiting-for-input', attempts: 2 }],
    notes: [],
    answers: [],
    ...extra,
  };
}

const waiting = {
  kind: 'operator-decision' as const,
  step: 'enable',
  since: SINCE,
  prompt: 'ESCALATED: encryption at rest is DISABLED on prod-a …',
  answers: ['retry' as const, 'enable-internal' as const, 'abort' as const],
  reminders: 0,
  abortRequires: { confirmUnprotected: 'prod-a' },
};


describe('ekm status while encryption at rest is disabled', () => {
  const run = { workflowId: 'ekm-setup-prod-a' };

  it('says so on the first line, plain when not a terminal', () => {
    const text = renderProgress(progress({ encryptionAtRestDisabled: { since: SINCE }, waiting }), run, Date.parse(SINCE));
    expect(text.split('\n')[0]).toBe(`!! ENCRYPTION AT REST IS DISABLED on prod-a since ${SINCE} — drives are not locked`);
    expect(text).toContain(
      'answer with one of:\n    ekm answer ekm-setup-prod-a retry\n    ekm answer ekm-setup-prod-a enable-internal\n',
    );
    expect(text).toContain('ekm answer ekm-setup-prod-a abort --reason "..." --confirm-unprotected prod-a');
  });

  it('in bold red on a terminal', () => {
    const text = renderProgress(progress({ encryptionAtRestDisabled: { since: SINCE } }), run, Date.parse(SINCE), {
      color: true,
    });
    expect(text.split('\n')[0]).toBe(
      `\x1b[1;31m!! ENCRYPTION AT REST IS DISABLED on prod-a since ${SINCE} — drives are not locked\x1b[0m`,
    );
  });

  it('nothing of it otherwise', () => {
    const text = renderProgress(progress(), run, Date.parse(SINCE), { color: true });
    expect(text).not.toContain('ENCRYPTION AT REST IS DISABLED');
    expect(text).not.toContain('--confirm-unprotected');
    expect(text.split('\n')[0]).toMatch(/^setup on cluster prod-a: waiting-for-input/);
  });
});

describe('ekm answer for the escalated question', () => {
  it('enable-internal, with a comment', () => {
    expect(buildAnswer('enable-internal', { by: 'on-call', comment: 'key server down' })).toEqual({
      action: 'enable-internal',
      by: 'on-call',
      comment: 'key server down',
    });
  });

  it('abort carries the confirmation; it goes with abort only', () => {
    expect(buildAnswer('abort', { by: 'ops', reason: 'rolling back by hand', confirmUnprotected: 'prod-a' })).toEqual({
      action: 'abort',
      by: 'ops',
      reason: 'rolling back by hand',
      confirmUnprotected: 'prod-a',
    });
    const wrong = cliRefusal(() => buildAnswer('retry', { confirmUnprotected: 'prod-a' }));
    expect([wrong.exitCode, wrong.message]).toEqual([ExitCode.usage, 'retry: --confirm-unprotected goes with abort only']);
  });
});

describe('ekm setup --replace-internal-key', () => {
  const flags = (extra: Record<string, unknown>) =>
    setupInputFromFlags('prod-a', { hostname: [], ...extra } as Parameters<typeof setupInputFromFlags>[1]);
  const complete = {
    cn: 'prod-a.example.com',
    providerName: 'kmip-1',
    serverName: 'keysecure-1',
    hostname: ['kms1.example.com'],
  };
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

  it('sets replaceInternalKey; the schema takes it for hardware mode only, naming the field', () => {
    const hardware = { ...flags({ ...complete, mode: 'hardware', replaceInternalKey: true }), kmipCaCertificate: ca };
    expect(hardware.replaceInternalKey).toBe(true);
    expect(setupInput.parse(hardware).replaceInternalKey).toBe(true);
    const none = setupInput.safeParse({ ...hardware, mode: 'none' });
    expect(none.success).toBe(false);
    expect(describeIssues(none.error!)).toContain('replaceInternalKey: is only for mode hardware');
    expect(setupInput.parse({ ...hardware, replaceInternalKey: undefined }).replaceInternalKey).toBe(false);
  });
});
