/**
 * The fault watcher's certificate warnings: which key server certificates the cluster uses expire
 * within the horizon, and which of them to tell people about now (`certificate-expiring`), once
 * per certificate and threshold. Pure and workflow-safe: the watcher reads the certificates with
 * an activity (GetKeyServerKmip) and hands them here with the time.
 */
import type { KeyServerCertificate } from '../activities/renew';
import type { ExpiringCertificate } from './contract';

const DAY_MS = 86_400_000;

/** The thresholds under the horizon, in days; 0 is "expired". */
const FIXED_THRESHOLDS_DAYS = [30, 14, 7, 1, 0];

/** The thresholds a certificate is warned at: the horizon, then 30, 14, 7 and 1 day(s) left and expired (those under it), in ms, descending. */
export function expiryThresholdsMs(horizonMs: number): number[] {
  const fixed = FIXED_THRESHOLDS_DAYS.map((d) => d * DAY_MS).filter((ms) => ms < horizonMs);
  return [horizonMs, ...fixed];
}

export interface CertificateWarning {
  certificate: ExpiringCertificate;
  /** The threshold crossed, in ms left (0: expired). */
  thresholdMs: number;
  /** `<fingerprint>@<thresholdMs>`: what "once per certificate and threshold" remembers. */
  key: string;
  message: string;
}

function describeLeft(leftMs: number, notAfter: string): string {
  if (leftMs <= 0) return `expired on ${notAfter}`;
  const days = Math.floor(leftMs / DAY_MS);
  return `expires on ${notAfter} (in ${days < 1 ? 'less than a day' : `${days} day${days === 1 ? '' : 's'}`})`;
}

/**
 * The certificates within the horizon (soonest first), and the warnings due now: for each, the
 * lowest threshold it has crossed, unless that one was already warned about. A certificate first
 * seen at 10 days left is warned once (at the 14-day threshold), again at 7, 1 and expired.
 */
export function certificateWarnings(
  cluster: string,
  certificates: KeyServerCertificate[],
  nowMs: number,
  horizonMs: number,
  warned: ReadonlySet<string>,
): { expiring: ExpiringCertificate[]; due: CertificateWarning[] } {
  const thresholds = expiryThresholdsMs(horizonMs);
  const expiring: ExpiringCertificate[] = [];
  const due: CertificateWarning[] = [];
  for (const c of certificates) {
    const leftMs = Date.parse(c.notAfter) - nowMs;
    if (!(leftMs <= horizonMs)) continue;
    const certificate: ExpiringCertificate = { ...c, daysLeft: Math.floor(leftMs / DAY_MS) };
    expiring.push(certificate);
    const thresholdMs = thresholds.filter((t) => leftMs <= t).at(-1)!;
    const key = `${c.fingerprint}@${thresholdMs}`;
    if (warned.has(key) || due.some((d) => d.key === key)) continue;
    const what = c.certificate === 'client' ? 'client certificate' : 'CA certificate';
    const remedy =
      c.certificate === 'client'
        ? `renew it: ekm renew ${cluster}`
        : `get the key server's renewed CA certificate and install it: ekm renew ${cluster} --kmip-ca FILE`;
    due.push({
      certificate,
      thresholdMs,
      key,
      message: `key server '${c.keyServerName}' (keyServerID ${c.keyServerID}) on ${cluster}: its ${what} ${c.subject} ${describeLeft(leftMs, c.notAfter)}; ${remedy}`,
    });
  }
  expiring.sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));
  return { expiring, due };
}
