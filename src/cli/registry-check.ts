import fs from 'node:fs';
import { findCluster, loadClusterRegistry } from '../config/clusters';
import { ConfigError } from '../config/zod-errors';
import type { RuntimeSettings } from '../config/runtime';
import { CliError, ExitCode } from './exit-codes';

/**
 * When the clusters file is readable here, refuse an unknown cluster before starting anything.
 * (The CLI may run where the file is not; the worker checks again in any case.)
 */
export function checkKnownCluster(settings: RuntimeSettings, cluster: string): void {
  if (!fs.existsSync(settings.EKM_CLUSTERS_FILE)) return;
  try {
    findCluster(loadClusterRegistry(settings.EKM_CLUSTERS_FILE), cluster);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, ExitCode.notFound);
    throw err;
  }
}
