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
    expect(() => temporalConnection(settings)).toThrow('TEMPORAL_TLS_CERT: cannot read /nonexistent/c.pem: ENOENT');
  });
});
