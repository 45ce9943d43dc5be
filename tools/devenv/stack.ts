import fs from 'node:fs';
import path from 'node:path';
import { startCfssl, type CfsslCa } from './cfssl';
import { startPyKmip, type PyKmipServer } from './pykmip';
import { startTemporalDevServer, type TemporalDevServer } from './temporal';

/** Everything the demo runs locally, kept in one data folder so a second run resumes. */
export interface LocalStack {
  dataDir: string;
  temporal: TemporalDevServer;
  kmip: PyKmipServer;
  cfssl: CfsslCa;
  stop(): Promise<void>;
}

export interface LocalStackPorts {
  temporal: number;
  temporalUi: number;
  kmip: number;
  cfssl: number;
}

export const DEFAULT_STACK_PORTS: LocalStackPorts = { temporal: 7233, temporalUi: 8233, kmip: 5696, cfssl: 8888 };

export async function startLocalStack(dataDir: string, ports: LocalStackPorts = DEFAULT_STACK_PORTS): Promise<LocalStack> {
  fs.mkdirSync(dataDir, { recursive: true });
  const cfssl = await startCfssl({ dir: path.join(dataDir, 'cfssl'), port: ports.cfssl });
  const [temporal, kmip] = await Promise.all([
    startTemporalDevServer({
      dir: path.join(dataDir, 'temporal'),
      persist: true,
      port: ports.temporal,
      uiPort: ports.temporalUi,
    }),
    startPyKmip({ dir: path.join(dataDir, 'pykmip'), port: ports.kmip, trustedClientCaPems: [cfssl.caPem] }),
  ]);
  return {
    dataDir,
    temporal,
    kmip,
    cfssl,
    async stop() {
      await Promise.all([temporal.stop(), kmip.stop(), cfssl.stop()]);
    },
  };
}
