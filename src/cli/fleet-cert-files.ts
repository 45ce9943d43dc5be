/**
 * `ekm fleet submit-certs DIR`: which files in DIR name no cluster of the fleet, and which clusters
 * still wait for a certificate with no file, so a misnamed file (`prod-fra1.crt`) is not passed
 * over in silence while that cluster's runbook keeps waiting.
 */

/**
 * @param fileNames the names in DIR (not paths)
 * @param fleetClusters every cluster of the fleet
 * @param waitingClusters the clusters whose runbook waits for a signed certificate now
 * @param options.sharedCa `--ca` was given: it is the CA of every certificate
 * @returns `stray`: `*.crt` names that are no `<cluster>.crt` of the fleet (sorted);
 *   `missing`: waiting clusters without `<cluster>.crt` (in the fleet's order);
 *   `caNotRead`: with `--ca`, the fleet's `<cluster>.ca.pem` files, which it replaces (sorted)
 */
export function certificateFileGaps(
  fileNames: readonly string[],
  fleetClusters: readonly string[],
  waitingClusters: readonly string[],
  options: { sharedCa?: boolean } = {},
): { stray: string[]; missing: string[]; caNotRead: string[] } {
  const clusters = new Set(fleetClusters);
  const certs = fileNames.filter((f) => f.endsWith('.crt'));
  const named = new Set(certs.map((f) => f.slice(0, -'.crt'.length)));
  return {
    stray: certs.filter((f) => !clusters.has(f.slice(0, -'.crt'.length))).sort(),
    missing: waitingClusters.filter((c) => !named.has(c)),
    caNotRead: options.sharedCa
      ? fileNames.filter((f) => f.endsWith('.ca.pem') && clusters.has(f.slice(0, -'.ca.pem'.length))).sort()
      : [],
  };
}
