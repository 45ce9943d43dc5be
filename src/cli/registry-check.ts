import fs from 'node:fs';
import { findCluster, loadClusterRegistry } from '../config/clusters';
import { ConfigError } from '../config/zod-errors';
import type { RuntimeSettings } from '../config/runtime';
import { CliError, ExitCode } from './exit-codes';

/** How a caller words the signer's refusal: the field's name and the clusters file's. */
export interface SignerWording {
  /** Names of input fields, as refusals say them; `signer.name` (default `--signer-name`) is used. */
  names?: Readonly<Record<string, string>>;
  /** How to name the clusters file (default its path; the console says "the clusters file"). */
  clustersFile?: string;
}

/**
 * Refuses an unknown cluster (exit 3) or signer (exit 2) before starting anything, from the
 * clusters file the worker uses: the CLI needs it too (EKM_CLUSTERS_FILE), or it says so. An
 * unknown signer is named as `wording` says: by the flag (`--signer-name`, the default), an input
 * file's field (`setup.yaml: signer.name`), and the clusters file by its path or a caller's words.
 */
export function checkKnownCluster(settings: RuntimeSettings, cluster: string, signer?: string, wording: SignerWording = {}): void {
  if (!fs.existsSync(settings.EKM_CLUSTERS_FILE)) {
    throw new CliError(
      `EKM_CLUSTERS_FILE: no clusters file at ${settings.EKM_CLUSTERS_FILE}: the CLI checks cluster names against the clusters file the worker uses before it starts anything; set EKM_CLUSTERS_FILE to it`,
      ExitCode.usage,
    );
  }
  let registry;
  try {
    registry = loadClusterRegistry(settings.EKM_CLUSTERS_FILE);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, ExitCode.usage);
    throw err;
  }
  try {
    findCluster(registry, cluster);
    if (signer !== undefined && !registry.signers[signer]) {
      const known = Object.keys(registry.signers).join(', ') || 'none';
      throw new CliError(
        `${wording.names?.['signer.name'] ?? '--signer-name'}: no signer "${signer}" in ${wording.clustersFile ?? settings.EKM_CLUSTERS_FILE} (signers: ${known})`,
        ExitCode.usage,
      );
    }
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, ExitCode.notFound);
    throw err;
  }
}
