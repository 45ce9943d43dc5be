import fs from 'node:fs';
import { findCluster, loadClusterRegistry } from '../config/clusters';
import { ConfigError } from '../config/zod-errors';
import type { RuntimeSettings } from '../config/runtime';
import { CliError, ExitCode } from './exit-codes';

/**
 * When the clusters file is readable here, refuse an unknown cluster before starting anything.
 * (The CLI may run where the file is not; the worker checks again in any case.)
 */
export function checkKnownCluster(settings: RuntimeSettings, cluster: string, signer?: string): void {
  if (!fs.existsSync(settings.EKM_CLUSTERS_FILE)) return;
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
