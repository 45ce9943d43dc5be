/** The console's users file as `ekm console --users` reads it: its problems in words, never zod's or yaml's. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadUsersFile } from '../../src/console/auth';

describe('the console users file', () => {
  let dir: string;
  const write = (text: string) => {
    const file = path.join(dir, 'users.yaml');
    fs.writeFileSync(file, text);
    return file;
  };
  const refusal = (file: string) => {
    try {
      loadUsersFile(file);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('accepted');
  };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-users-file-'));
    fs.writeFileSync(path.join(dir, 'ops.token'), 'x'.repeat(24));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('words a user name with odd characters (not "Invalid key in record")', () => {
    const file = write('users:\n  bob smith<script>:\n    tokenFile: ops.token\n  ops.team-1@corp:\n    tokenFile: ops.token\n');
    const message = refusal(file);
    expect(message).toBe(
      `--users ${file}: users.bob smith<script>: is not a user name: user names are 1 to 100 letters, digits, '.', '_', '@' and '-', starting with a letter or digit (a name is recorded as \`by\` with every answer)`,
    );
    expect(message).not.toMatch(/Invalid key/i);
    expect(loadUsersFile(write('users:\n  ops.team-1@corp:\n    tokenFile: ops.token\n')).map((u) => u.name)).toEqual(['ops.team-1@corp']);
  });

  it('names YAML problems with the file, in words', () => {
    const alias = write('users:\n  ops: *ops\n');
    expect(refusal(alias)).toBe(`--users ${alias}: YAML aliases (*ops) are not allowed here at line 2, column 8; write the value out`);
    const broken = write('users:\n  ops: [\n');
    expect(refusal(broken)).toMatch(new RegExp(`^--users ${broken}: not valid YAML at line \\d+, column \\d+: `));
  });
});
