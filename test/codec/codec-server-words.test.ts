import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCodecServer } from '../../src/codec/codec-server';
import { Authenticator, loadUsersFile } from '../../src/console/auth';

const TOKEN = randomBytes(24).toString('hex');

describe("the codec server says its refusals in words (not the web framework's codes)", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ekm-codec-words-'));
    fs.writeFileSync(path.join(dir, 'k1.key'), randomBytes(32).toString('base64'));
    fs.writeFileSync(path.join(dir, 'keys.yaml'), 'keys:\n  k1: { file: k1.key, current: true }\n');
    fs.writeFileSync(path.join(dir, 'oncall.token'), TOKEN);
    fs.writeFileSync(path.join(dir, 'users.yaml'), 'users:\n  oncall-1: { tokenFile: oncall.token }\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('415 without JSON, 400 for a body that is not JSON, 404 naming its endpoints; no CORS without --ui-origin', async () => {
    const auth = new Authenticator({ users: loadUsersFile(path.join(dir, 'users.yaml')), secure: false });
    const app = await buildCodecServer({ keysFile: path.join(dir, 'keys.yaml'), auth });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      const authorization = `Bearer ${TOKEN}`;
      const plain = await fetch(`${url}/decode`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'text/plain' },
        body: 'x',
      });
      expect([plain.status, await plain.json()]).toEqual([
        415,
        { error: 'send the payloads as JSON (Content-Type: application/json)' },
      ]);
      const broken = await fetch(`${url}/decode`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: '{"payloads": [',
      });
      expect([broken.status, await broken.json()]).toEqual([400, { error: 'the body is not valid JSON' }]);
      const get = await fetch(`${url}/decode`);
      expect([get.status, await get.json()]).toEqual([
        404,
        { error: 'no GET /decode here: the codec server answers POST /decode and POST /encode' },
      ]);
      const ok = await fetch(`${url}/encode`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json', origin: 'http://127.0.0.1:8080' },
        body: JSON.stringify({ payloads: [] }),
      });
      expect(ok.status).toBe(200);
      const notAList = await fetch(`${url}/decode`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ payloads: 'x' }),
      });
      expect(notAList.status).toBe(400);
      expect(((await notAList.json()) as { error: string }).error).toMatch(/^body\.payloads: must be a list \(the body is/);
      expect(ok.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await app.close();
    }
  });
});
