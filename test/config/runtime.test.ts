import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRuntimeSettings, temporalConnection } from '../../src/config/runtime';

describe('runtime settings from the environment', () => {
  it('defaults to the local dev server', () => {
    const settings = loadRuntimeSettings({});
    expect(settings.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(settings.TEMPORAL_NAMESPACE).toBe('default');
    expect(settings.EKM_TASK_QUEUE).toBe('ekm-runbooks');
    expect(temporalConnection(settings)).toEqual({ address: '127.0.0.1:7233' });
  });

  it('names the variable that is wrong', () => {
    expect(() => loadRuntimeSettings({ TEMPORAL_ADDRESS: 'temporal.internal' })).toThrow('TEMPORAL_ADDRESS: must be host:port');
    expect(() => loadRuntimeSettings({ TEMPORAL_TLS_CERT: '/x.pem' })).toThrow(
      'TEMPORAL_TLS_KEY: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together',
    );
    expect(() => loadRuntimeSettings({ EKM_WEBHOOK_URL: 'not a url' })).toThrow('EKM_WEBHOOK_URL: must be a URL');
    expect(() => loadRuntimeSettings({ TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' })).toThrow(
      'TEMPORAL_TLS_SERVER_NAME: is set but TLS is off',
    );
    expect(() =>
      loadRuntimeSettings({ EKM_WEBHOOK_URL: 'http://127.0.0.1:9/hook', EKM_WEBHOOK_KINDS: 'escalated,paged' }),
    ).toThrow('EKM_WEBHOOK_KINDS: unknown event kind(s) paged');
    expect(() => loadRuntimeSettings({ EKM_WEBHOOK_TOKEN_FILE: '/run/secrets/token' })).toThrow(
      'EKM_WEBHOOK_TOKEN_FILE: is set but EKM_WEBHOOK_URL is not',
    );
  });

  it('reads the webhook kinds as a list', () => {
    const settings = loadRuntimeSettings({
      EKM_WEBHOOK_URL: 'http://127.0.0.1:9/hook',
      EKM_WEBHOOK_KINDS: ' escalated ,fault-detected',
    });
    expect(settings.EKM_WEBHOOK_KINDS).toEqual(['escalated', 'fault-detected']);
  });

  it('reads mTLS files and names a missing one', () => {
    const settings = loadRuntimeSettings({ TEMPORAL_TLS_CERT: '/nonexistent/c.pem', TEMPORAL_TLS_KEY: '/nonexistent/k.pem' });
    expect(() => temporalConnection(settings)).toThrow('TEMPORAL_TLS_CERT: file /nonexistent/c.pem does not exist');
  });

  describe('EKM_CONFIG_FILE', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-settings-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const write = (text: string) => {
      const file = path.join(dir, 'ekm.yaml');
      fs.writeFileSync(file, text);
      return file;
    };

    it('reads the settings from the file, paths relative to it; the environment overrides a setting', () => {
      const file = write(
        [
          'TEMPORAL_ADDRESS: temporal.internal:7233',
          'EKM_TASK_QUEUE: ekm-prod',
          'EKM_CLUSTERS_FILE: clusters.yaml',
          'TEMPORAL_TLS_CA: certs/ca.pem',
        ].join('\n'),
      );
      const settings = loadRuntimeSettings({ EKM_CONFIG_FILE: file, EKM_TASK_QUEUE: 'ekm-override' });
      expect(settings.TEMPORAL_ADDRESS).toBe('temporal.internal:7233');
      expect(settings.EKM_TASK_QUEUE).toBe('ekm-override');
      expect(settings.EKM_CLUSTERS_FILE).toBe(path.join(dir, 'clusters.yaml'));
      expect(settings.TEMPORAL_TLS_CA).toBe(path.join(dir, 'certs/ca.pem'));
      expect(settings.TEMPORAL_NAMESPACE).toBe('default');
    });

    it('names the file and the setting that is wrong', () => {
      expect(() => loadRuntimeSettings({ EKM_CONFIG_FILE: write('TEMPORAL_ADRESS: x:1\n') })).toThrow(
        /EKM_CONFIG_FILE .*ekm\.yaml: .*TEMPORAL_ADRESS/,
      );
      expect(() => loadRuntimeSettings({ EKM_CONFIG_FILE: write('TEMPORAL_ADDRESS: nowhere\n') })).toThrow(
        /EKM_CONFIG_FILE .*: TEMPORAL_ADDRESS: must be host:port/,
      );
      expect(() => loadRuntimeSettings({ EKM_CONFIG_FILE: path.join(dir, 'missing.yaml') })).toThrow(
        /EKM_CONFIG_FILE: file .*missing\.yaml does not exist/,
      );
    });
  });
});
