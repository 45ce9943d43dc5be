import { checkSignedCertificate, normalizeCsrPem, summarizeCsr } from '../../src/pki/certificate-checks';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../../src/pki/authority';
import { generateRsaKeyPair, spkiFingerprint } from '../../src/pki/keys';
import { x509, type CryptoKeyPair } from '../../src/pki/x509';

const DAY = 86_400_000;

describe('checks on a CA-signed client certificate', () => {
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let clusterKeys: CryptoKeyPair;
  let csrPem: string;

  beforeAll(async () => {
    ca = await createCertificateAuthority('Issuing CA');
    otherCa = await createCertificateAuthority('Someone Else CA');
    clusterKeys = await generateRsaKeyPair();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=cluster-a',
      keys: clusterKeys,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    });
    csrPem = csr.toString('pem');
  });

  const sign = async (overrides: Partial<Parameters<typeof issueCertificate>[1]> = {}, by = ca) =>
    (await issueCertificate(by, { subject: 'CN=cluster-a', publicKey: clusterKeys.publicKey, usages: ['client'], ...overrides }))
      .certificatePem;

  it('accepts a good certificate and summarizes it', async () => {
    const check = await checkSignedCertificate({ csrPem, certificatePem: await sign(), caChainPem: ca.certificatePem });
    expect(check.problems).toEqual([]);
    expect(check.summary?.subject).toBe('CN=cluster-a');
    expect(check.summary?.issuer).toBe('CN=Issuing CA');
    expect(check.summary?.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(check.summary?.keyFingerprint).toBe(await spkiFingerprint(await x509.PublicKey.create(clusterKeys.publicKey)));
  });

  it.each([
    ['text that is not PEM', async () => 'hello', '--cert: is not a certificate: no -----BEGIN CERTIFICATE----- line'],
    ['a CSR instead of a certificate', async () => csrPem, '--cert: is a certificate signing request (CSR), not a certificate'],
    [
      'a PEM block that does not parse',
      async () => '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----',
      '--cert: the PEM block does not hold an X.509 certificate',
    ],
  ])('refuses %s', async (_case, certificate, expected) => {
    const check = await checkSignedCertificate({ csrPem, certificatePem: await certificate(), caChainPem: ca.certificatePem });
    expect(check.problems.join('\n')).toContain(expected);
  });

  it("refuses a certificate for another key than the CSR's", async () => {
    const stranger = await generateRsaKeyPair();
    const check = await checkSignedCertificate({
      csrPem,
      certificatePem: await sign({ publicKey: stranger.publicKey }),
      caChainPem: ca.certificatePem,
    });
    expect(check.problems).toEqual([
      "--cert: its public key is not the cluster's (it was not signed from this runbook's CSR)",
    ]);
  });

  it('refuses not-yet-valid, expired and soon-expiring certificates', async () => {
    const now = Date.now();
    const future = await checkSignedCertificate({
      csrPem,
      certificatePem: await sign({ notBefore: new Date(now + DAY) }),
      caChainPem: ca.certificatePem,
    });
    expect(future.problems.join()).toContain('--cert: not valid yet');
    const expired = await checkSignedCertificate({
      csrPem,
      certificatePem: await sign({ notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) }),
      caChainPem: ca.certificatePem,
    });
    expect(expired.problems.join()).toContain('--cert: expired on');
    const soon = await checkSignedCertificate({
      csrPem,
      certificatePem: await sign({ notAfter: new Date(now + 20 * DAY) }),
      caChainPem: ca.certificatePem,
    });
    expect(soon.problems.join()).toContain('--cert: expires within 30 days');
    const enough = await checkSignedCertificate({
      csrPem,
      certificatePem: await sign({ notAfter: new Date(now + 31 * DAY) }),
      caChainPem: ca.certificatePem,
    });
    expect(enough.problems).toEqual([]);
  });

  it('refuses a certificate not issued by the given CA, naming its issuer', async () => {
    const check = await checkSignedCertificate({
      csrPem,
      certificatePem: await sign({}, otherCa),
      caChainPem: ca.certificatePem,
    });
    expect(check.problems).toEqual(['--cert: issuer "CN=Someone Else CA" is not in the CA bundle: include the intermediate']);
  });

  it('refuses a CA whose name matches but whose key did not sign it', async () => {
    const impostor = await createCertificateAuthority('Issuing CA');
    const check = await checkSignedCertificate({ csrPem, certificatePem: await sign(), caChainPem: impostor.certificatePem });
    expect(check.problems).toEqual([
      '--cert: not signed by --ca although the name matches ("CN=Issuing CA"): that CA has another key; give the CA that really issued it',
    ]);
  });

  it('finds the issuer anywhere in a bundle of several CAs', async () => {
    const check = await checkSignedCertificate({
      csrPem,
      certificatePem: await sign(),
      caChainPem: `${otherCa.certificatePem}\n${ca.certificatePem}`,
    });
    expect(check.problems).toEqual([]);
  });

  it('refuses a certificate without the clientAuth extended key usage', async () => {
    const serverOnly = await checkSignedCertificate({
      csrPem,
      certificatePem: await sign({ usages: ['server'] }),
      caChainPem: ca.certificatePem,
    });
    expect(serverOnly.problems).toEqual([expect.stringContaining('--cert: no clientAuth extended key usage')]);
    const noEku = await checkSignedCertificate({
      csrPem,
      certificatePem: await sign({ omitExtendedKeyUsage: true }),
      caChainPem: ca.certificatePem,
    });
    expect(noEku.problems).toEqual([expect.stringContaining('--cert: no clientAuth extended key usage')]);
  });

  it('says when the CA chain is not PEM', async () => {
    const check = await checkSignedCertificate({ csrPem, certificatePem: await sign(), caChainPem: 'not a pem' });
    expect(check.problems).toEqual([
      '--ca: is not a certificate: no -----BEGIN CERTIFICATE----- line, and not DER or PKCS#7 either',
    ]);
  });

  it('reports every problem at once', async () => {
    const stranger = await generateRsaKeyPair();
    const check = await checkSignedCertificate({
      csrPem,
      certificatePem: await sign(
        { publicKey: stranger.publicKey, usages: ['server'], notAfter: new Date(Date.now() + DAY) },
        otherCa,
      ),
      caChainPem: ca.certificatePem,
    });
    expect(check.problems).toHaveLength(4);
  });

  it('reads a CSR given as bare base64, as the Element docs sample shows', async () => {
    const base64 = csrPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    expect(normalizeCsrPem(base64)).toBe(normalizeCsrPem(csrPem));
    expect((await summarizeCsr(base64)).subject).toBe('CN=cluster-a');
  });
});
