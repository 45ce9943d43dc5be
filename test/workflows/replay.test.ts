import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';
import { historyText } from '../../tools/histories/secrets';
import { ekmDataConverter } from '../../src/codec/data-converter';
import { encodeHistoryPayloads } from '../support/encrypted-history';
import * as workflows from '../../workflows';
import { WORKFLOW_BUNDLE_OPTIONS, WORKFLOW_INTERCEPTOR_MODULES } from '../../worker/bundle-options';

/**
 * Recorded histories (test/histories, `npm run record-histories`) replayed against the current
 * workflow code: a change that would break runs in flight fails here. Never re-record to make
 * this pass; guard the change with patched() (test/histories/README.md).
 */
const HISTORIES = path.resolve(__dirname, '../histories');
/** Bundled as the worker bundles them (its shared modules, its interceptors). */
const WORKER_BUNDLING: ReplayWorkerOptions = {
  workflowsPath: WORKFLOW_BUNDLE_OPTIONS.workflowsPath,
  bundlerOptions: { preloadModules: WORKFLOW_BUNDLE_OPTIONS.preloadModules },
  interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
};

interface Recorded {
  file: string;
  workflowId: string;
  workflowType: string;
  history: History;
}

function loadHistories(): Recorded[] {
  return fs
    .readdirSync(HISTORIES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, file), 'utf8')));
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      return { file, workflowId: started?.workflowId ?? '', workflowType: started?.workflowType?.name ?? '', history };
    });
}

const histories = loadHistories();
const byFile = (file: string): Recorded => {
  const found = histories.find((h) => h.file === file);
  if (!found) throw new Error(`test/histories/${file} is missing`);
  return found;
};
const eventsOf = (file: string) => byFile(file).history.events ?? [];

async function replayAll(options: ReplayWorkerOptions, recorded: Recorded[]): Promise<Array<{ file: string; error?: Error }>> {
  const results: Array<{ file: string; error?: Error }> = [];
  const replays = Worker.runReplayHistories(
    options,
    recorded.map(({ history, workflowId }) => ({ history, workflowId })),
  );
  for await (const result of replays) results.push({ file: recorded[results.length]!.file, error: result.error });
  return results;
}

describe('replay of recorded workflow histories', () => {
  it('has a recorded history, with its workflow id, for every workflow the worker runs', () => {
    for (const file of [
      'setup-demo.json',
      'rekey-demo.json',
      'recover-slice-service-demo.json',
      'cluster-lock-demo.json',
      'setup-manual-cert-retry.json',
      'rekey-attach-running.json',
    ])
      expect(byFile(file).workflowId).toMatch(/^ekm-/);
    expect(histories.some((h) => h.file.startsWith('recover-kmip-server-fault-demo'))).toBe(true);
    expect(new Set(histories.map((h) => h.workflowType))).toEqual(new Set(Object.keys(workflows)));
  });

  it('holds the scenarios the file names promise', () => {
    const updates = (file: string) =>
      eventsOf(file).flatMap((e) => {
        const completed = e.workflowExecutionUpdateCompletedEventAttributes;
        return completed ? [completed.outcome?.failure ? 'rejected' : 'accepted'] : [];
      });
    expect(updates('setup-manual-cert-retry.json')).toEqual(['rejected', 'accepted', 'accepted']);
    const activities = (file: string) =>
      eventsOf(file).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    expect(activities('rekey-attach-running.json')).toContain('awaitMasterKeyRekey');
    expect(activities('rekey-attach-running.json')).not.toContain('startMasterKeyRekey');
    expect(eventsOf('fault-watcher-notify-only-run1.json').at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    // Continuing as new is not an end: run 1 sends only the notice that it waits for a person, none that it failed.
    const kmipRun1 = 'recover-kmip-server-fault-continued-as-new-run1.json';
    expect(eventsOf(kmipRun1).at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    expect(activities(kmipRun1).filter((name) => name === 'notify')).toHaveLength(1);
    // The renewal's first certificate failed its test and was put back before the "change" answer.
    const renewal = activities('renew-rollback-change.json');
    expect(renewal.filter((name) => name === 'installKeyServerCertificate')).toHaveLength(2);
    expect(renewal.indexOf('restoreKeyServerCertificate')).toBeGreaterThan(renewal.indexOf('testKeyServer'));
    expect(updates('renew-rollback-change.json')).toEqual(['accepted', 'accepted']);
    // The fleet started one rekey per cluster, the second only after the first ended (concurrency 1).
    const children = eventsOf('fleet-one-at-a-time.json').flatMap((e) =>
      e.startChildWorkflowExecutionInitiatedEventAttributes ? ['start'] : e.childWorkflowExecutionCompletedEventAttributes ? ['end'] : [],
    );
    expect(children).toEqual(['start', 'end', 'start', 'end']);
  });

  it('carries no private key and names no path of the machine it was recorded on (payloads decoded; the certificates are there)', () => {
    const texts = histories.map((h) => ({ file: h.file, text: historyText(h.history) }));
    expect(texts.filter((t) => t.text.includes('PRIVATE KEY')).map((t) => t.file)).toEqual([]);
    const raw = histories.map((h) => ({ file: h.file, text: fs.readFileSync(path.join(HISTORIES, h.file), 'utf8') }));
    expect(raw.filter((t) => /(^|[\s"'(])\/(home|root|work|tmp|Users)\//.test(t.text)).map((t) => t.file)).toEqual([]);
    expect(texts.find((t) => t.file === 'setup-manual-cert-retry.json')?.text).toContain('BEGIN CERTIFICATE');
  });

  it('replays every recorded history against the current workflow code', async () => {
    const results = await replayAll(WORKER_BUNDLING, histories);
    expect(results.map((r) => r.file)).toEqual(histories.map((h) => h.file));
    expect(results.filter((r) => r.error).map((r) => `${r.file}: ${r.error!.name}: ${r.error!.message}`)).toEqual([]);
  });

  it("replays a history stored encrypted (payload codec on) through the worker's codec; without the key it names the key id", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-replay-keys-'));
    try {
      fs.writeFileSync(path.join(dir, 'r1.key'), randomBytes(32).toString('base64'));
      fs.writeFileSync(path.join(dir, 'keys.yaml'), 'keys:\n  r1: { file: r1.key, current: true }\n');
      const dataConverter = ekmDataConverter({ EKM_PAYLOAD_KEYS_FILE: path.join(dir, 'keys.yaml') });
      const original = byFile('setup-manual-cert-retry.json');
      // A copy, encrypted as the server would hold it; no certificate left readable.
      const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, original.file), 'utf8')));
      expect(await encodeHistoryPayloads(history, dataConverter.payloadCodecs![0]!)).toBeGreaterThan(10);
      expect(historyText(history)).not.toContain('BEGIN CERTIFICATE');
      const encrypted = { ...original, history };
      const [withKey] = await replayAll({ ...WORKER_BUNDLING, dataConverter }, [encrypted]);
      expect(withKey).toEqual({ file: original.file });
      // A worker without the keys file refuses its payloads in words naming the key they need.
      const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads!;
      await expect(ekmDataConverter({}).payloadCodecs![0]!.decode(input)).rejects.toThrow(
        /key id "r1": payload encryption is off here/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails on a rekey runbook changed without patched() (an activity call inserted before the first)', async () => {
    const [result] = await replayAll({ workflowsPath: require.resolve('../fixtures/changed-rekey-workflow') }, [
      byFile('rekey-demo.json'),
    ]);
    expect(result?.error).toBeInstanceOf(DeterminismViolationError);
  });

  it('fails on a rekey runbook whose steps were reordered without patched() (the precheck before the lock)', async () => {
    const [result] = await replayAll({ workflowsPath: require.resolve('../fixtures/reordered-rekey-workflow') }, [
      byFile('rekey-demo.json'),
    ]);
    expect(result?.error).toBeInstanceOf(DeterminismViolationError);
  });

  it('still replays when the same change is guarded by patched()', async () => {
    const results = await replayAll({ workflowsPath: require.resolve('../fixtures/patched-rekey-workflow') }, [
      byFile('rekey-demo.json'),
      byFile('rekey-attach-running.json'),
    ]);
    expect(results).toEqual([{ file: 'rekey-demo.json' }, { file: 'rekey-attach-running.json' }]);
  });
});
