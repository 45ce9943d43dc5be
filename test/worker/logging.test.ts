import { ApplicationFailure } from '@temporalio/common';
import { Failure } from '../../workflows/failures';
import { WorkerLogger } from '../../worker/logging';

describe('worker log', () => {
  let written: string[];
  let spy: jest.SpyInstance;
  beforeEach(() => {
    written = [];
    spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  });
  afterEach(() => spy.mockRestore());

  it('writes one JSON object per line with the error reduced to name, message and type', () => {
    new WorkerLogger('INFO').warn('Activity failed', {
      activityType: 'testKeyServer',
      error: ApplicationFailure.nonRetryable('refused', 'xKmipConnectionFailure'),
    });
    expect(written).toHaveLength(1);
    const line = JSON.parse(written[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'warn', msg: 'Activity failed', activityType: 'testKeyServer' });
    expect(line.error).toEqual({ name: 'ApplicationFailure', message: 'refused', type: 'xKmipConnectionFailure' });
    expect(typeof line.time).toBe('string');
  });

  it('keeps a polling hand-back ("still running") out of the warnings', () => {
    const logger = new WorkerLogger('INFO');
    logger.warn('Activity failed', { error: ApplicationFailure.retryable('async job 7 is still running', Failure.StillRunning) });
    expect(written).toEqual([]);
    new WorkerLogger('DEBUG').warn('Activity failed', {
      error: ApplicationFailure.retryable('async job 7 is still running', Failure.StillRunning),
    });
    expect(JSON.parse(written[0]!)).toMatchObject({ level: 'debug' });
  });
});
