/**
 * Element API versions: the endpoint list GetAPI reports (docs sample up to 12.0, later releases
 * appended) and comparisons. The simulated cluster supports every version up to its configured
 * current version.
 */

export const ELEMENT_API_VERSIONS = [
  '1.0',
  '2.0',
  '3.0',
  '4.0',
  '5.0',
  '5.1',
  '6.0',
  '7.0',
  '7.1',
  '7.2',
  '7.3',
  '7.4',
  '8.0',
  '8.1',
  '8.2',
  '8.3',
  '8.4',
  '8.5',
  '8.6',
  '8.7',
  '9.0',
  '9.1',
  '9.2',
  '9.3',
  '9.4',
  '9.5',
  '9.6',
  '10.0',
  '10.1',
  '10.2',
  '10.3',
  '10.4',
  '10.5',
  '10.6',
  '10.7',
  '11.0',
  '11.1',
  '11.3',
  '11.5',
  '11.7',
  '11.8',
  '12.0',
  '12.2',
  '12.3',
  '12.5',
  '12.7',
  '12.8',
  '12.9',
] as const;

export const DEFAULT_API_VERSION = '12.3';

/** Software version string per API version (what ListActiveNodes softwareVersion shows). */
export function softwareVersionFor(apiVersion: string): string {
  return `${apiVersion}.0.1000`;
}

export function parseVersion(v: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2])];
}

/** Negative when a is older than b. Both must look like "12.3". */
export function compareVersions(a: string, b: string): number {
  const [aMajor, aMinor] = parseVersion(a) ?? [0, 0];
  const [bMajor, bMinor] = parseVersion(b) ?? [0, 0];
  return aMajor !== bMajor ? aMajor - bMajor : aMinor - bMinor;
}

export function isKnownVersion(v: string): boolean {
  return (ELEMENT_API_VERSIONS as readonly string[]).includes(v);
}

/** Every endpoint version up to and including the current one. */
export function supportedVersions(current: string): string[] {
  return ELEMENT_API_VERSIONS.filter((v) => compareVersions(v, current) <= 0);
}
