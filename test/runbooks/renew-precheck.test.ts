/**
 * The renewal's decisions that need no server (unit tier): the precheck as a function of the
 * cluster's state and the input (assessRenewal: facts, refusals, the key-pair window), the
 * watcher's certificate warnings (once per certificate and threshold), the input schemas and the
 * `confirm` answer.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { KeyProviderKmip, KeyServerKmip } from '../../src/element/objects';
import { assessRenewal, type KeyServerCertificate, type RenewalClusterState } from '../../activities/renew';
import { answerUpdate } from '../../workflows/contract';
import { certificateWarnings, expiryThresholdsMs } from '../../workflows/certificate-expiry';
import { faultWatcherInput } from '../../workflows/inputs-recovery';
import { renewInput } from '../../workflows/inputs-renew';
import { issueClient, makeCa, makeCsr, type TestCa } from '../support/certificates';

const DAY = 86_400_000;

describe('assessRenewal (the precheck without I/O)', () => {
  let ca: TestCa;
  let csr: Awaited<ReturnType<typeof makeCsr>>;
  let current: string;

  beforeAll(async () => {
    ca = await makeCa('KMIP CA');
    csr = await makeCsr({ subject: 'CN=prod-a.example.test, O=Example, C=US', version: 2 });
    current = await issueClient(ca, csr.keys.publicKey, {
      subject: 'CN=prod-a.example.test, O=Example, C=US',
      notAfter: new Date(Date.now() + 10 * DAY),
    });
  });

  function state(overrides: Partial<RenewalClusterState> = {}, server: Partial<KeyServerKmip> = {}): RenewalClusterState {
    const provider: KeyProviderKmip = {
      keyProviderID: 7,
      keyProviderName: 'kmip-1',
      keyProviderIsActive: true,
      keyServerIDs: [11],
      kmipCapabilities: 'SSL',
    };
    return {
      apiVersion: '12.3',
      provider,
      keyServer: {
        keyServerID: 11,
        kmipKeyServerName: 'keysecure-1',
        kmipKeyServerHostnames: ['kms1.example.test'],
        kmipKeyServerPort: 5696,
        kmipCaCertificate: ca.certificatePem,
        kmipClientCertificate: current,
        keyProviderID: 7,
        kmipAssignedProviderIsActive: true,
        ...server,
      },
      csrPem: csr.csrPem,
      otherServersInUse: [],
      certificateFaults: [],
      ...overrides,
    };
  }
  const input = { provider: { active: true as const }, newKeyPair: false, signer: 'cfssl' as const };

  async function refusal(promise: Promise<unknown>): Promise<ApplicationFailure> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof ApplicationFailure)) throw new Error(`expected a refusal, got ${String(err)}`);
    expect(err.nonRetryable).toBe(true);
    return err;
  }

  it('reports the server, its certificates and the key pair it keeps; the subject fields for a new key pair', async () => {
    const p = await assessRenewal(state(), input);
    expect(p.provider).toEqual({ id: 7, name: 'kmip-1', active: true });
    expect(p.keyServer).toEqual({ id: 11, name: 'keysecure-1', hostnames: ['kms1.example.test'], port: 5696 });
    expect(p.client.subject).toBe('CN=prod-a.example.test, O=Example, C=US');
    expect(p.client.issuer).toBe('CN=KMIP CA');
    expect(p.client.keyFingerprint).toBe(p.keyFingerprint);
    expect(p.kmipCa.map((c) => c.subject)).toEqual(['CN=KMIP CA']);
    expect(p.subject).toEqual({ commonName: 'prod-a.example.test', organization: 'Example', country: 'US' });
    expect(p.window).toBeUndefined();
    expect(p.notes.join('\n')).toMatch(
      /current client certificate: CN=prod-a.example.test.*issued by CN=KMIP CA, valid until .* \(9 days left\)/,
    );
    expect(p.notes.at(-1)).toMatch(/^the key pair is kept/);
    expect(p.clientCertificatePem).toBe(current);
  });

  it('refuses a certificate for another key than the cluster key pair (KeyPairMismatch)', async () => {
    const other = await makeCsr();
    const err = await refusal(assessRenewal(state({ csrPem: other.csrPem }), input));
    expect(err.type).toBe('KeyPairMismatch');
    expect(err.message).toContain('replaced after the certificate was issued');
  });

  it('refuses a KMIP CA that expires within 30 days unless a renewed one is given, and a renewed one that is short itself', async () => {
    const shortCa = await makeCa('KMIP CA', { notAfter: new Date(Date.now() + 20 * DAY) });
    const err = await refusal(assessRenewal(state({}, { kmipCaCertificate: shortCa.certificatePem }), input));
    expect(err.type).toBe('KmipCaExpiring');
    expect(err.message).toContain('--kmip-ca');
    const renewed = await makeCa('KMIP CA 2027');
    const p = await assessRenewal(state({}, { kmipCaCertificate: shortCa.certificatePem }), {
      ...input,
      kmipCaCertificate: renewed.certificatePem,
    });
    expect(p.newKmipCa?.map((c) => c.subject)).toEqual(['CN=KMIP CA 2027']);
    const tooShort = await refusal(assessRenewal(state(), { ...input, kmipCaCertificate: shortCa.certificatePem }));
    expect(tooShort.type).toBe('InvalidInput');
    expect(tooShort.message).toMatch(/^kmipCaCertificate: CN=KMIP CA is valid until/);
  });

  it('a new key pair: states the window (longer with a manual signer), refused while other key servers use the key pair', async () => {
    const manual = await assessRenewal(state(), { ...input, newKeyPair: true, signer: 'manual' });
    expect(manual.window).toMatch(/could not fetch its keys .*\(a person must submit the certificate\)/);
    const cfssl = await assessRenewal(state(), { ...input, newKeyPair: true });
    expect(cfssl.window).toMatch(/as long as the cfssl signer takes/);
    const busy = state({ otherServersInUse: [{ id: 12, name: 'dr-site', providerId: 8 }] });
    expect((await refusal(assessRenewal(busy, { ...input, newKeyPair: true }))).type).toBe('KeyServersInUse');
    // Without a new key pair the other servers do not matter.
    await expect(assessRenewal(busy, input)).resolves.toBeDefined();
  });

  it('refuses an API version without EKM and a cluster without a key pair', async () => {
    expect((await refusal(assessRenewal(state({ apiVersion: '11.3' }), input))).type).toBe('UnsupportedVersion');
    expect((await refusal(assessRenewal(state({ csrPem: null }), input))).type).toBe('KeyPairMissing');
  });
});

describe('certificate-expiring warnings (the fault watcher)', () => {
  const now = Date.parse('2027-01-01T00:00:00Z');
  const cert = (daysLeft: number, overrides: Partial<KeyServerCertificate> = {}): KeyServerCertificate => ({
    keyServerID: 11,
    keyServerName: 'keysecure-1',
    certificate: 'client',
    subject: 'CN=prod-a.example.test',
    issuer: 'CN=KMIP CA',
    notAfter: new Date(now + daysLeft * DAY).toISOString(),
    fingerprint: 'AA:BB',
    ...overrides,
  });

  it('thresholds: the horizon, then 30, 14, 7, 1 day(s) and expired under it', () => {
    expect(expiryThresholdsMs(60 * DAY).map((ms) => ms / DAY)).toEqual([60, 30, 14, 7, 1, 0]);
    expect(expiryThresholdsMs(10 * DAY).map((ms) => ms / DAY)).toEqual([10, 7, 1, 0]);
  });

  it('warns once per certificate and threshold: the lowest threshold crossed, not the ones above it', () => {
    const warned = new Set<string>();
    const first = certificateWarnings('prod-a', [cert(10), cert(200, { fingerprint: 'CC' })], now, 60 * DAY, warned);
    expect(first.expiring.map((c) => c.fingerprint)).toEqual(['AA:BB']);
    expect(first.due.map((d) => [d.key, d.thresholdMs / DAY])).toEqual([[`AA:BB@${14 * DAY}`, 14]]);
    expect(first.due[0]!.message).toBe(
      "key server 'keysecure-1' (keyServerID 11) on prod-a: its client certificate CN=prod-a.example.test expires on 2027-01-11T00:00:00.000Z (in 10 days); renew it: ekm renew prod-a",
    );
    for (const d of first.due) warned.add(d.key);
    // The same certificate, later the same day: nothing new.
    expect(certificateWarnings('prod-a', [cert(10)], now + 3_600_000, 60 * DAY, warned).due).toEqual([]);
    // Six days left: the 7-day threshold; then expired.
    const week = certificateWarnings('prod-a', [cert(6)], now, 60 * DAY, warned);
    expect(week.due.map((d) => d.thresholdMs / DAY)).toEqual([7]);
    for (const d of week.due) warned.add(d.key);
    const expired = certificateWarnings(
      'prod-a',
      [cert(-1, { certificate: 'ca', subject: 'CN=KMIP CA' })],
      now,
      60 * DAY,
      warned,
    );
    expect(expired.due.map((d) => d.thresholdMs)).toEqual([0]);
    expect(expired.due[0]!.message).toMatch(
      /its CA certificate CN=KMIP CA expired on .*; get the key server's renewed CA certificate and install it: ekm renew prod-a --kmip-ca FILE$/,
    );
    expect(expired.expiring[0]!.daysLeft).toBe(-1);
  });
});

describe('inputs and answers', () => {
  it('renew: acceptKeyPairWindow only with newKeyPair; durations in ms', () => {
    const refused = renewInput.safeParse({ cluster: 'prod-a', acceptKeyPairWindow: true });
    expect(refused.error?.issues).toEqual([expect.objectContaining({ path: ['acceptKeyPairWindow'] })]);
    const parsed = renewInput.parse({ cluster: 'prod-a' });
    expect(parsed).toMatchObject({
      signer: { type: 'manual' },
      newKeyPair: false,
      faultPollIntervalMs: 30_000,
      resolveWindowMs: 600_000,
      signingDeadlineMs: 14 * DAY,
    });
  });

  it('fault watcher: the renewal option is checked like a renewal input; certificate warnings on by default, or off', () => {
    expect(faultWatcherInput.parse({ cluster: 'prod-a' }).certificateExpiry).toEqual({
      horizonMs: 60 * DAY,
      checkEveryMs: 3_600_000,
    });
    expect(faultWatcherInput.parse({ cluster: 'prod-a', certificateExpiry: false }).certificateExpiry).toBe(false);
    const watcher = faultWatcherInput.parse({ cluster: 'prod-a', renewal: { signer: { type: 'command', name: 'corp-ca' } } });
    expect(watcher.renewal?.signer).toEqual({ type: 'command', name: 'corp-ca' });
    expect(faultWatcherInput.safeParse({ cluster: 'prod-a', renewal: { acceptKeyPairWindow: true } }).success).toBe(false);
  });

  it('confirm is an answer', () => {
    expect(answerUpdate.argument.parse({ action: 'confirm', by: 'oncall' })).toEqual({ action: 'confirm', by: 'oncall' });
  });
});
