import fs from 'node:fs';

interface Stoppable {
  stop(): Promise<void>;
}

export default async function globalTeardown(): Promise<void> {
  const servers = (globalThis as Record<string, unknown>).__EKM_SERVERS__ as
    { temporal: Stoppable; kmip: Stoppable; cfssl: Stoppable; dir: string } | undefined;
  if (!servers) return;
  await Promise.all([servers.temporal.stop(), servers.kmip.stop(), servers.cfssl.stop()]);
  if (!process.env.EKM_KEEP_TEST_DIR) fs.rmSync(servers.dir, { recursive: true, force: true });
}
