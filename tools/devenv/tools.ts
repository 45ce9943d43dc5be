import os from 'node:os';
import path from 'node:path';

/** Where scripts/bootstrap.sh caches what it installs ($EKM_TOOLS). */
export function toolsDir(): string {
  return process.env.EKM_TOOLS ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'ekm-tools');
}

export const COMPOSE_GO_VERSION = 'v2.16.2';

export function composeSchemaFile(): string {
  return path.join(toolsDir(), `compose-spec-${COMPOSE_GO_VERSION}.json`);
}
