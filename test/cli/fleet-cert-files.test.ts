import { certificateFileGaps } from '../../src/cli/fleet-cert-files';

describe('ekm fleet submit-certs: files that name no cluster, clusters with no file', () => {
  it('names a misspelt <cluster>.crt and the waiting cluster it was meant for', () => {
    const gaps = certificateFileGaps(
      ['prod-ams-2.crt', 'prod-ams-2.ca.pem', 'prod-fra1.crt', 'notes.txt', 'lab-9.crt'],
      ['prod-ams-1', 'prod-ams-2', 'prod-fra-1'],
      ['prod-ams-1', 'prod-fra-1'],
    );
    expect(gaps).toEqual({ stray: ['lab-9.crt', 'prod-fra1.crt'], missing: ['prod-ams-1', 'prod-fra-1'], caNotRead: [] });
  });

  it('nothing to say when every waiting cluster has its file and every file a cluster', () => {
    expect(certificateFileGaps(['a.crt', 'b.crt', 'b.ca.pem'], ['a', 'b', 'c'], ['a', 'b'])).toEqual({
      stray: [],
      missing: [],
      caNotRead: [],
    });
  });

  it("with --ca, the fleet's <cluster>.ca.pem files are named as not read (--ca replaces them)", () => {
    const files = ['a.crt', 'a.ca.pem', 'b.crt', 'b.ca.pem', 'zz.ca.pem'];
    expect(certificateFileGaps(files, ['a', 'b'], ['a', 'b'], { sharedCa: true }).caNotRead).toEqual(['a.ca.pem', 'b.ca.pem']);
    expect(certificateFileGaps(files, ['a', 'b'], ['a', 'b']).caNotRead).toEqual([]);
  });
});
