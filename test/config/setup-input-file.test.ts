/**
 * The setup input file as `ekm setup --input` and the console's upload read it: every refusal names
 * the file and says what is wrong in an operator's words, never the yaml or zod library's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inputNamesOf, parseInputText, setupInputFromUpload } from '../../src/cli/commands/setup';
import { SETUP_FLAGS } from '../../src/cli/commands/setup';
import { checkKnownCluster } from '../../src/cli/registry-check';
import { validateInput } from '../../src/cli/start';
import type { RuntimeSettings } from '../../src/config/runtime';
import { setupInput } from '../../workflows/inputs';

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('a setup input file: refusals name the file', () => {
  it('aliases, several documents, JSON: each said with the file (upload and --input alike)', () => {
    expect(refusal(() => setupInputFromUpload('prod-a', 'mode: *nope\n', 'setup.yaml', 'ops'))).toBe(
      'setup.yaml: YAML aliases (*nope) are not allowed here at line 1, column 7; write the value out',
    );
    expect(refusal(() => parseInputText('mode: none\n---\nmode: hardware\n', '--input setup.yaml'))).toMatch(
      /^--input setup\.yaml: holds more than one YAML document/,
    );
    expect(refusal(() => setupInputFromUpload('prod-a', '{"mode": "none",}', 'setup.json', 'ops'))).toMatch(
      /^setup\.json: not valid JSON at line 1, column \d+/,
    );
  });

  it('unknown fields are named with the file, not "(input)"', () => {
    const text = `foo: 1\nkeyProviderNmae: kmip-1\nsubject: {commonName: prod-a.example.com}\nkeyServerName: ks\nhostnames: [kms1.example.com]\nmode: none\n`;
    const { input, names } = setupInputFromUpload('prod-a', text, 'setup.yaml', 'ops');
    const upload = refusal(() => validateInput(setupInput, input, names));
    expect(upload).toContain('setup.yaml: foo, keyProviderNmae are not fields here');
    expect(upload).not.toContain('(input)');
    const fromFile = parseInputText(text, 'setup.yaml') as object;
    const cli = refusal(() => validateInput(setupInput, { ...fromFile, cluster: 'prod-a' }, inputNamesOf(SETUP_FLAGS, { ...fromFile, cluster: 'prod-a' }, fromFile, 'setup.yaml')));
    expect(cli).toContain('setup.yaml: foo, keyProviderNmae are not fields here');
  });

  describe('an unknown command signer', () => {
    let dir: string;
    let settings: RuntimeSettings;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-signer-words-'));
      const file = path.join(dir, 'clusters.yaml');
      fs.writeFileSync(file, 'clusters:\n  prod-a:\n    mvip: https://127.0.0.1\n    apiVersion: "12.3"\n    username: admin\n    password: {env: NOPE}\n    insecure: true\nsigners:\n  corp-ca: {command: [/bin/true]}\n');
      settings = { EKM_CLUSTERS_FILE: file } as RuntimeSettings;
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('from the CLI flag: --signer-name and the clusters file path', () => {
      expect(refusal(() => checkKnownCluster(settings, 'prod-a', 'nope'))).toBe(
        `--signer-name: no signer "nope" in ${settings.EKM_CLUSTERS_FILE} (signers: corp-ca)`,
      );
    });

    it('from an uploaded file: its field, and no server path', () => {
      const { names } = setupInputFromUpload('prod-a', 'signer: {type: command, name: nope}\n', 'setup.yaml', 'ops');
      const message = refusal(() => checkKnownCluster(settings, 'prod-a', 'nope', { names, clustersFile: 'the clusters file' }));
      expect(message).toBe('setup.yaml: signer.name: no signer "nope" in the clusters file (signers: corp-ca)');
      expect(message).not.toContain(dir);
    });
  });
});
