import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { EncryptionCodec, KEY_ID_METADATA, PayloadDecryptionError } from '../../src/codec/encryption-codec';
import { livePayloadKeys, loadPayloadKeys } from '../../src/codec/payload-keys';

/** A keys file in a fresh folder: id -> { key (base64) or raw file text, current }. */
function keysFile(dir: string, keys: Record<string, { text?: string; current?: boolean }>, name = 'keys.yaml'): string {
  const lines = ['keys:'];
  for (const [id, key] of Object.entries(keys)) {
    fs.writeFileSync(path.join(dir, `${id}.key`), key.text ?? `${randomBytes(32).toString('base64')}\n`);
    lines.push(`  ${id}:`, `    file: ${id}.key`, ...(key.current ? ['    current: true'] : []));
  }
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const pem = '-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n';
const value = { cluster: 'prod-a', hostnames: ['kmip.example.test'], certificatePem: pem };
const plainPayload = (): Payload => defaultPayloadConverter.toPayload(value);
const text = (p: Payload) => Buffer.from(p.data ?? []).toString('latin1') + JSON.stringify(p.metadata);

describe('payload encryption (AES-256-GCM codec and its keys file)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-codec-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('encrypts with the current key, names it in the metadata, hides the value and decodes it back', async () => {
    const codec = new EncryptionCodec(loadPayloadKeys(keysFile(dir, { old: {}, '2026-11': { current: true } })));
    const [encrypted] = await codec.encode([plainPayload()]);
    expect(Buffer.from(encrypted!.metadata![KEY_ID_METADATA]!).toString()).toBe('2026-11');
    expect(Buffer.from(encrypted!.metadata!.encoding!).toString()).toBe('binary/encrypted');
    for (const secret of ['BEGIN CERTIFICATE', 'kmip.example.test', 'prod-a', 'json/plain'])
      expect(text(encrypted!)).not.toContain(secret);
    const [decoded] = await codec.decode([encrypted!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(value);
    // A fresh IV each time: the same value never encrypts to the same bytes.
    const [again] = await codec.encode([plainPayload()]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(encrypted!.data!))).toBe(false);
  });

  it('passes through payloads that are not encrypted (histories from before the codec was on)', async () => {
    const codec = new EncryptionCodec(loadPayloadKeys(keysFile(dir, { k1: { current: true } })));
    const [decoded] = await codec.decode([plainPayload()]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(value);
  });

  it('rotates: a new current key encrypts, the old one still decrypts; once removed, the error names its key id', async () => {
    const first = keysFile(dir, { k1: { current: true } });
    const [byK1] = await new EncryptionCodec(loadPayloadKeys(first)).encode([plainPayload()]);
    // Rotation: k2 added and marked current, k1 kept (same key file) without `current`.
    const k1Text = fs.readFileSync(path.join(dir, 'k1.key'), 'utf8');
    const rotated = new EncryptionCodec(
      loadPayloadKeys(keysFile(dir, { k1: { text: k1Text }, k2: { current: true } }, 'rotated.yaml')),
    );
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([byK1!]))[0]!)).toEqual(value);
    const [byK2] = await rotated.encode([plainPayload()]);
    expect(Buffer.from(byK2!.metadata![KEY_ID_METADATA]!).toString()).toBe('k2');

    const withoutK1 = new EncryptionCodec(loadPayloadKeys(keysFile(dir, { k2: { current: true } }, 'k2-only.yaml')));
    const refused = withoutK1.decode([byK1!]);
    await expect(refused).rejects.toThrow(PayloadDecryptionError);
    await expect(refused).rejects.toThrow(/key id "k1": EKM_PAYLOAD_KEYS_FILE .*k2-only\.yaml has no key with that id/);
  });

  it('a long-running process follows a rotation of its keys file without a restart; a broken edit keeps the keys read before', async () => {
    const file = keysFile(dir, { k1: { current: true } });
    const problems: string[] = [];
    const codec = new EncryptionCodec(livePayloadKeys(file, (m) => problems.push(m)));
    const [byK1] = await codec.encode([plainPayload()]);
    const bump = (seconds: number) => fs.utimesSync(file, new Date(), new Date(Date.now() + seconds * 1000));

    // Rotated on disk (another process, e.g. the CLI, may already encrypt with k2).
    const k1Text = fs.readFileSync(path.join(dir, 'k1.key'), 'utf8');
    keysFile(dir, { k1: { text: k1Text }, k2: { current: true } });
    bump(1);
    const [byK2] = await codec.encode([plainPayload()]);
    expect(Buffer.from(byK2!.metadata![KEY_ID_METADATA]!).toString()).toBe('k2');
    for (const p of await codec.decode([byK1!, byK2!])) expect(defaultPayloadConverter.fromPayload(p)).toEqual(value);

    // An edit with a mistake: said once, the keys read before go on working.
    fs.writeFileSync(file, 'keys:\n  k3:\n    file: missing.key\n    current: true\n');
    bump(2);
    for (const p of await codec.decode([byK1!, byK2!])) expect(defaultPayloadConverter.fromPayload(p)).toEqual(value);
    await codec.encode([plainPayload()]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/missing\.key.*keeping the keys read before/);
    expect(problems[0]).not.toContain(k1Text.trim());
  });

  it('a different key under the same id, or an altered payload, is refused naming the key id', async () => {
    const [encrypted] = await new EncryptionCodec(loadPayloadKeys(keysFile(dir, { k1: { current: true } }))).encode([
      plainPayload(),
    ]);
    const other = new EncryptionCodec(loadPayloadKeys(keysFile(dir, { k1: { current: true } }, 'other.yaml')));
    await expect(other.decode([encrypted!])).rejects.toThrow(/key id "k1": the key with that id in .* does not decrypt it/);

    const same = new EncryptionCodec(loadPayloadKeys(path.join(dir, 'other.yaml')));
    const [mine] = await same.encode([plainPayload()]);
    const altered = Buffer.from(mine!.data!);
    altered[20] = altered[20]! ^ 1;
    await expect(same.decode([{ ...mine!, data: altered }])).rejects.toThrow(/key id "k1"/);
    // Relabelled to another key id holding the very same key: the key id is authenticated, so refused.
    const k1Text = fs.readFileSync(path.join(dir, 'k1.key'), 'utf8');
    const twins = new EncryptionCodec(
      loadPayloadKeys(keysFile(dir, { k1: { text: k1Text, current: true }, k9: { text: k1Text } }, 'twins.yaml')),
    );
    const [byTwin] = await twins.encode([plainPayload()]);
    expect(defaultPayloadConverter.fromPayload((await twins.decode([byTwin!]))[0]!)).toEqual(value);
    const relabelled = { ...byTwin!, metadata: { ...byTwin!.metadata, [KEY_ID_METADATA]: Buffer.from('k9') } };
    await expect(twins.decode([relabelled])).rejects.toThrow(/key id "k9": the key with that id .* does not decrypt it/);
  });

  it('without keys: encrypts nothing, and an encrypted payload is refused naming the key id it needs', async () => {
    const off = new EncryptionCodec(undefined);
    const plain = plainPayload();
    expect(await off.encode([plain])).toEqual([plain]);
    const [encrypted] = await new EncryptionCodec(loadPayloadKeys(keysFile(dir, { 'k-2026': { current: true } }))).encode([
      plain,
    ]);
    await expect(off.decode([encrypted!])).rejects.toThrow(
      /key id "k-2026": payload encryption is off here \(set EKM_PAYLOAD_KEYS_FILE/,
    );
  });

  describe('keys file mistakes name the field', () => {
    const load = (yaml: string) => {
      const file = path.join(dir, 'keys.yaml');
      fs.writeFileSync(file, yaml);
      return () => loadPayloadKeys(file);
    };
    it.each([
      ['keys:\n  a: { file: a.key }\n', /keys: no key is marked current: true/],
      [
        'keys:\n  a: { file: a.key, current: true }\n  b: { file: b.key, current: true }\n',
        /keys: exactly one key may be marked current: true, not a, b/,
      ],
      ['keys: {}\n', /keys: must name at least one key/],
      ['keys:\n  a: { file: a.key, current: true, cipher: des }\n', /keys\.a: .*cipher/],
      ['keys:\n  "bad id!": { file: a.key, current: true }\n', /a key id is 1-64 letters/],
      ['key: {}\n', /keys: is required/],
    ])('%j', (yaml, message) => {
      fs.writeFileSync(path.join(dir, 'a.key'), randomBytes(32).toString('base64'));
      fs.writeFileSync(path.join(dir, 'b.key'), randomBytes(32).toString('base64'));
      expect(load(yaml)).toThrow(message);
    });

    it('a key file that is missing, or not 32 bytes in base64, is named by its field, without its content', () => {
      expect(load('keys:\n  a: { file: missing.key, current: true }\n')).toThrow(
        /keys\.a\.file: file .*missing\.key does not exist/,
      );
      fs.writeFileSync(path.join(dir, 'short.key'), randomBytes(16).toString('base64'));
      expect(load('keys:\n  a: { file: short.key, current: true }\n')).toThrow(
        /keys\.a\.file: .*short\.key must hold a 32-byte key in base64/,
      );
      fs.writeFileSync(path.join(dir, 'hex.key'), 'zz'.repeat(32));
      expect(load('keys:\n  a: { file: hex.key, current: true }\n')).toThrow(/keys\.a\.file: .*must hold a 32-byte key/);
      try {
        load('keys:\n  a: { file: hex.key, current: true }\n')();
      } catch (err) {
        expect((err as Error).message).not.toContain('zz'.repeat(32));
      }
    });
  });
});
