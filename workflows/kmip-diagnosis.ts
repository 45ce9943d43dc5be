/**
 * The kmipServerFault diagnosis in words: what each key server's test said, and what a person
 * should do about each kind of failure. Workflow-safe: formatting only.
 */
import type { KmipDiagnosis, KmipFailureClass } from './contract';

export const WHAT_TO_DO: Record<KmipFailureClass, string> = {
  unreachable: 'restore network reachability of the key server (host, port, firewall) or bring it back up',
  'tls-rejected': "check the key server's CA and the cluster's client certificate (trust, expiry, key pair)",
  'key-missing': "make the cluster's key available on the key server again (restore it from backup)",
  other: "check the key server's logs and the fault's details",
};

/** One line per key server, then the fault. */
export function describeDiagnosis(d: KmipDiagnosis): string {
  const lines = d.servers.map(
    (s) =>
      `key server ${s.keyServerID} '${s.name}' (${s.hostnames.join(', ')}:${s.port}): ${s.ok ? 'passes TestKeyServerKmip' : `${s.failure} — ${s.errorName}: ${s.error}`}`,
  );
  lines.push(
    d.fault ? `fault ${d.fault.clusterFaultID} (${d.faultClass}): ${d.fault.details}` : 'kmipServerFault no longer current',
  );
  return lines.join('\n');
}

/** True when two diagnoses say the same about every server and the fault (the fault's id aside). */
export function sameDiagnosis(a: KmipDiagnosis, b: KmipDiagnosis): boolean {
  const text = (d: KmipDiagnosis) => describeDiagnosis(d).replace(/fault \d+/, '');
  return text(a) === text(b);
}

/** The problems in the diagnosis, each with what a person should do about it. */
export function advice(d: KmipDiagnosis): string {
  const classes = new Set(d.servers.filter((s) => !s.ok).map((s) => s.failure!));
  if (d.fault && d.faultClass && (classes.size === 0 || d.faultClass === 'key-missing')) classes.add(d.faultClass);
  return [...classes].map((c) => `${c}: ${WHAT_TO_DO[c]}`).join('; ');
}
