import fs from 'node:fs';
import { findCluster, loadClusterRegistry } from '../config/clusters';
import { ConfigError } from '../config/zod-errors';
import type { RuntimeSettings } from '../config/runtime';
import { CliError, ExitCode } from './exit-codes';

/**
 * Refuses an unknown cluster (exit 3) or signer (exit 2) before starting anything, from the
 * clusters file the worker uses: the CLI needs it too (EKM_CLUSTERS_FILE), or it says so.
 */
export function checkKnownCluster(settings: RuntimeSettings, cluster: string, signer?: string): void {
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
        `--signer-name: no signer "${signer}" in ${settings.EKM_CLUSTERS_FILE} (signers: ${known})`,
        ExitCode.usage,
      );
    }
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, ExitCode.notFound);
    throw err;
  }
}
