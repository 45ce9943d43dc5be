/** The demo worker's terminal lines: an aborted run is one line in words, no SDK stack. */
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger } from '@temporalio/worker';
import { demoLogFunction, demoLogLine } from '../../tools/demo/worker-log';

describe('demo worker log', () => {
  it('says a failed or aborted run in one line, without the stack the SDK attaches', () => {
    const lines: string[] = [];
    const logger = new DefaultLogger('WARN', demoLogFunction((line) => lines.push(line)));
    const error = ApplicationFailure.nonRetryable('aborted by ops: key server replaced', 'RunbookAborted');
    expect(error.stack).toMatch(/\n\s+at /);
    logger.warn('Workflow failed', { error, workflowId: 'ekm-recover-kmip-demo', sdkComponent: 'worker' });
    logger.debug('Workflow completed as cancelled', {});
    expect(lines).toEqual(['  worker: ekm-recover-kmip-demo ended: aborted by ops: key server replaced [RunbookAborted]']);
  });

  it('other warnings: one line with the level, the activity and the error message', () => {
    const error = new Error('ListDrives: the cluster answered HTTP 503\n  more detail');
    expect(demoLogLine({ level: 'WARN', message: 'Activity failed', timestampNanos: 0n, meta: { error, activityType: 'setupPrecheck' } })).toBe(
      '  worker warn: Activity failed (setupPrecheck): ListDrives: the cluster answered HTTP 503',
    );
  });
});
