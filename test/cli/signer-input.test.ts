/**
 * The signer part of setup's and renew's input: refusals say what is wrong in words, naming the
 * field, never the schema library's own message.
 */
import { signerFromFlags } from '../../src/cli/signer-flags';
import { describeIssues, setupInput } from '../../workflows/inputs';

const base = {
  cluster: 'prod-a',
  subject: { commonName: 'prod-a.example.com' },
  keyProviderName: 'kmip-1',
  keyServerName: 'keysecure-1',
  hostnames: ['kms1.example.com'],
  kmipCaCertificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  mode: 'hardware',
};
const refusal = (signer: unknown) => {
  const parsed = setupInput.safeParse({ ...base, signer });
  return parsed.success ? 'accepted' : describeIssues(parsed.error);
};

describe('the signer of a setup input', () => {
  it('takes an http or https cfssl URL', () => {
    expect(refusal({ type: 'cfssl', url: 'http://127.0.0.1:8888' })).toBe('accepted');
    expect(refusal({ type: 'cfssl', url: 'https://cfssl.example.com' })).toBe('accepted');
  });

  it.each(['ftp://x', 'not a url', '', 'http://'])('refuses the cfssl URL %j in words', (url) => {
    expect(refusal({ type: 'cfssl', url })).toContain('signer.url: must be an http:// or https:// URL of the cfssl server');
  });

  it('refuses an empty command signer name or cfssl profile in words', () => {
    expect(refusal({ type: 'command', name: '' })).toContain("signer.name: must name a signer of the clusters file's signers");
    expect(refusal({ type: 'cfssl', url: 'http://x:1', profile: '' })).toContain('signer.profile: must not be empty');
  });
});

describe('the signing flags', () => {
  it('--cfssl-url or --signer-name alone choose their signer', () => {
    expect(signerFromFlags({ cfsslUrl: 'http://127.0.0.1:8888' })).toEqual({ type: 'cfssl', url: 'http://127.0.0.1:8888' });
    expect(signerFromFlags({ signerName: 'corp-ca' })).toEqual({ type: 'command', name: 'corp-ca' });
    expect(signerFromFlags({})).toBeUndefined();
  });

  it.each([
    [{ signer: 'manual', cfsslUrl: 'http://x' }, '--cfssl-url goes with --signer cfssl, not manual'],
    [{ signer: 'command', signerName: 'corp-ca', cfsslProfile: 'p' }, '--cfssl-profile goes with --signer cfssl, not command'],
    [{ signer: 'cfssl', cfsslUrl: 'http://x', signerName: 'corp-ca' }, '--signer-name goes with --signer command, not cfssl'],
  ])('a flag of another signer is refused, not ignored: %j', (flags, message) => {
    expect(() => signerFromFlags(flags)).toThrow(message);
  });
});
