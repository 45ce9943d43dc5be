/**
 * Our TTLV encoding of every request the project sends, byte for byte against PyKMIP's own codec
 * (test/kmip/pykmip-encode.py, run with the Python that has Debian's python3-pykmip): an
 * independent implementation of the KMIP 1.2 wire format as the oracle.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  activateRequest,
  createSymmetricKeyRequest,
  destroyRequest,
  discoverVersionsRequest,
  encodeTtlv,
  getRequest,
  locateByCustomAttributeRequest,
  locateByNameRequest,
  queryRequest,
  revokeRequest,
  type TtlvStructure,
} from '../../src/kmip';

const PYTHON = process.env.EKM_PYKMIP_PYTHON ?? '/usr/bin/python3';

const KEY_ID = '6c3b9c1e-54a7-4d8e-9f0a-1b2c3d4e5f60';

const ours: Record<string, TtlvStructure> = {
  create: createSymmetricKeyRequest({ name: 'cluster-7 master key' }),
  createWithCustomAttribute: createSymmetricKeyRequest({ customAttributes: { [`x-SolidFire-KeyID-${KEY_ID}`]: KEY_ID } }),
  locateByCustomAttribute: locateByCustomAttributeRequest(`x-SolidFire-KeyID-${KEY_ID}`, KEY_ID),
  discoverVersions: discoverVersionsRequest(),
  query: queryRequest(),
  activate: activateRequest('42'),
  get: getRequest('42'),
  locate: locateByNameRequest('k1'),
  revoke: revokeRequest('42'),
  destroy: destroyRequest('42'),
};

describe("request messages against PyKMIP's encoder", () => {
  const pykmip = JSON.parse(execFileSync(PYTHON, [path.join(__dirname, 'pykmip-encode.py')], { encoding: 'utf8' })) as Record<
    string,
    string
  >;

  it('covers the same requests', () => {
    expect(Object.keys(pykmip).sort()).toEqual(Object.keys(ours).sort());
  });

  it.each(Object.keys(ours))('%s: the same bytes', (name) => {
    expect(encodeTtlv(ours[name]!).toString('hex')).toBe(pykmip[name]);
  });
});
