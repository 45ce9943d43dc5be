/**
 * The same certificates, in any order and however encoded: compared by their SHA-256 fingerprints
 * (as CertificateSummary gives them). Pure; workflow-safe.
 */
export function sameCertificates(a: readonly { fingerprint: string }[], b: readonly { fingerprint: string }[]): boolean {
  const fingerprints = (list: readonly { fingerprint: string }[]) => [...new Set(list.map((c) => c.fingerprint))].sort().join();
  return fingerprints(a) === fingerprints(b);
}
