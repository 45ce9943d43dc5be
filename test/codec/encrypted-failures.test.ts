import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { encodeErrorToFailure, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { activityRetries, withDecodedFailures } from '../../src/cli/activity-retries';
import { ekmDataConverter } from '../../src/codec/data-converter';

describe('failures with payload encryption on', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-failures-'));
    fs.writeFileSync(path.join(dir, 'k1.key'), randomBytes(32).toString('base64'));
    fs.writeFileSync(path.join(dir, 'keys.yaml'), 'keys:\n  k1: { file: k1.key, current: true }\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("carry their message encrypted; ekm status's retry line decodes it with the keys", async () => {
    const converter = loadDataConverter(ekmDataConverter({ EKM_PAYLOAD_KEYS_FILE: path.join(dir, 'keys.yaml') }));
    const message = 'key server kmip.example.test:5696 refused the connection';
    const failure = await encodeErrorToFailure(converter, ApplicationFailure.retryable(message, 'KmipServerUnreachable'));
    expect(failure.message).toBe('Encoded failure');
    expect(JSON.stringify(failure)).not.toContain('kmip.example.test');

    const pending = [{ activityType: { name: 'testKeyServer' }, attempt: 3, lastFailure: failure }];
    expect(activityRetries(pending)[0]?.lastError).toBe('Encoded failure [KmipServerUnreachable]');
    const decoded = await withDecodedFailures(pending, converter);
    expect(activityRetries(decoded)[0]?.lastError).toBe(`${message} [KmipServerUnreachable]`);
  });

  it('a plain failure (encryption off) is left as it is', async () => {
    const converter = loadDataConverter(ekmDataConverter({}));
    const failure = await encodeErrorToFailure(converter, ApplicationFailure.retryable('busy', 'xDBVersionMismatch'));
    const pending = [{ activityType: { name: 'ensureKeyProvider' }, attempt: 2, lastFailure: failure }];
    expect(await withDecodedFailures(pending, converter)).toEqual(pending);
  });
});
