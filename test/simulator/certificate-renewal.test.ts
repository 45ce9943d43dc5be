/**
 * What the renewal needs of the simulator, in process and without a KMIP server: kmipCertificateFault
 * raised certificateFaultWarningMs before a certificate's notAfter (configurable; when a real cluster
 * raises it is UNCONFIRMED) and resolved at the next fault refresh once a renewed certificate is
 * installed; and ModifyKeyServerKmip's handling of a change whose contact with the key server fails
 * (verify: refused, nothing kept; keep: refused, kept; store: kept without contacting the server).
 * The renewal against the real PyKMIP is in test/runbooks/renew.test.ts.
 */
import { ElementApiError, type ElementClient } from '../../src/element';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import type { RunningSimulator } from '../../tools/simulator';
import { parseSimulatorArgs } from '../../tools/simulator/main';
import { clientFor, scratchDir, startTestSimulator, uniqueCn, waitFor } from './support';

const DAY = 86_400_000;
const KMS = 'kms.renewal.test';

let sim: RunningSimulator;
let client: ElementClient;
let ca: CertificateAuthority;
let keyServerID: number;

async function signed(days: number): Promise<string> {
  const { clientCertificateSignRequest } = await client.call('GetClientCertificateSignRequest');
  const csr = new x509.Pkcs10CertificateRequest(clientCertificateSignRequest);
  return (
    await issueCertificate(ca, {
      subject: csr.subject,
      publicKey: csr.publicKey,
      usages: ['client'],
      notAfter: new Date(Date.now() + days * DAY),
    })
  ).certificatePem;
}

const certificateFaults = async () =>
  (await client.call('ListClusterFaults', { faultTypes: 'current' })).faults.filter((f) => f.code === 'kmipCertificateFault');
const holds = async () => (await client.call('GetKeyServerKmip', { keyServerID })).kmipKeyServer.kmipClientCertificate;
const same = (a: string, b: string) => a.replace(/\s+/g, '') === b.replace(/\s+/g, '');

async function apiError(promise: Promise<unknown>): Promise<ElementApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ElementApiError)) throw new Error(`expected an ElementApiError, got ${String(err)}`);
  return err;
}

beforeAll(async () => {
  sim = await startTestSimulator('renewal');
  client = clientFor(sim);
  ca = await createCertificateAuthority('renewal test CA');
  await client.call('CreatePublicPrivateKeyPair', { commonName: uniqueCn('sim-renewal') });
  // The key server is never reachable here: every contact fails at once with a connection failure.
  await sim.control.makeUnreachable(KMS);
  const { kmipKeyServer } = await client.call('CreateKeyServerKmip', {
    kmipCaCertificate: ca.certificatePem,
    kmipClientCertificate: await signed(40),
    kmipKeyServerHostnames: [KMS],
    kmipKeyServerName: 'renewal',
  });
  keyServerID = kmipKeyServer.keyServerID;
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
});

test('kmipCertificateFault: raised certificateFaultWarningMs before notAfter (default 30 days), configurable', async () => {
  expect(sim.durations.certificateFaultWarningMs).toBe(30 * DAY);
  // 40 days left: no fault with the default threshold, across several refreshes.
  await new Promise((r) => setTimeout(r, 10 * sim.durations.faultRefreshMs));
  expect(await certificateFaults()).toEqual([]);
  await sim.control.setDurations({ certificateFaultWarningMs: 45 * DAY });
  const [fault] = await waitFor('the fault', async () =>
    (await certificateFaults()).length > 0 ? certificateFaults() : undefined,
  );
  expect(fault).toMatchObject({ severity: 'warning', data: { keyServerID, certificate: 'client', expired: false } });
  expect(fault!.details).toContain('(in 40 days)');
  const args = ['--state', `${scratchDir('renewal-args')}/state.json`, '--certificate-fault-warning-ms', String(7 * DAY)];
  expect(parseSimulatorArgs(args).options.durations?.certificateFaultWarningMs).toBe(7 * DAY);
});

test('ModifyKeyServerKmip with a change whose contact fails: verify refuses and keeps nothing, keep refuses and keeps it, store keeps it without contact', async () => {
  const before = await holds();
  const first = await signed(200);
  expect((await apiError(client.call('ModifyKeyServerKmip', { keyServerID, kmipClientCertificate: first }))).name).toBe(
    'xKmipConnectionFailure',
  );
  expect(same(await holds(), before)).toBe(true);

  await sim.control.setModifyKeyServer('keep');
  expect((await apiError(client.call('ModifyKeyServerKmip', { keyServerID, kmipClientCertificate: first }))).name).toBe(
    'xKmipConnectionFailure',
  );
  expect(same(await holds(), first)).toBe(true);

  await sim.control.setModifyKeyServer('store');
  const second = await signed(365);
  await client.call('ModifyKeyServerKmip', { keyServerID, kmipClientCertificate: second });
  expect(same(await holds(), second)).toBe(true);
  // Nothing changes, nothing is contacted, whatever the mode.
  await sim.control.setModifyKeyServer('verify');
  await client.call('ModifyKeyServerKmip', { keyServerID, kmipClientCertificate: second });

  // A renewed certificate (365 days, over the 45-day threshold) clears the fault at the next refresh.
  await waitFor('the fault to resolve', async () => ((await certificateFaults()).length === 0 ? true : undefined));
});
