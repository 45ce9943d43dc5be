/**
 * What the resume and waiting benchmarks share: a Temporal dev server with its /metrics port,
 * PyKMIP, simulated clusters, the workflow bundle made once, and the real worker as its own
 * process (dist/worker/main.js) that a benchmark can SIGKILL, SIGTERM and start again.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { ClusterRegistry } from '../../src/config/clusters';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../worker/bundle-options';
import { startCfssl, type CfsslCa } from '../devenv/cfssl';
import { startProcess, type ManagedProcess } from '../devenv/child';
import { freePort } from '../devenv/ports';
import { startPyKmip, type PyKmipServer } from '../devenv/pykmip';
import { startSimulatedCluster, type SimulatedCluster, type SimulatedClusterOptions } from '../devenv/simulated-cluster';
import { startTemporalDevServer, type TemporalDevServer } from '../devenv/temporal';

const root = path.resolve(__dirname, '../../..');

export interface BenchLab {
  dir: string;
  taskQueue: string;
  temporal: TemporalDevServer;
  client: Client;
  kmip: PyKmipServer;
  /** A cfssl CA PyKMIP trusts (with the cfssl option). */
  cfssl?: CfsslCa;
  clustersFile: string;
  /** `entry` changes the cluster's clusters-file entry (e.g. a shorter responseTimeoutMs). */
  addCluster(
    name: string,
    options: Omit<SimulatedClusterOptions, 'name' | 'dir'> & { entry?: { responseTimeoutMs?: number } },
  ): Promise<SimulatedCluster>;
  /** Starts the worker process and waits for its "started" line; resolves with when that was. */
  /**
   * `nodeFlags` go on the worker's node command line (V8 flags such as --max-old-space-size=N).
   * The worker runs with jemalloc, as in the image (Dockerfile), when Debian's libjemalloc2 is
   * installed here, unless `glibcMalloc`; `allocator` says which one it got.
   */
  startWorker(options?: {
    env?: Record<string, string>;
    nodeFlags?: string[];
    glibcMalloc?: boolean;
  }): Promise<{ worker: ManagedProcess; readyAt: number; allocator: 'jemalloc' | 'glibc malloc' }>;
  /** The Temporal server's frontend requests so far (its service_requests counter). */
  frontendRequests(): Promise<number>;
  /** Resident memory of a process in bytes (/proc/PID/status VmRSS). */
  rssBytes(pid: number): number;
  stop(): Promise<void>;
}

/** Where Debian's libjemalloc2 puts the library (the image links it to /usr/local/lib). */
const JEMALLOC_PATHS = ['/usr/local/lib/libjemalloc.so.2', '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2'];

export async function startBenchLab(
  dir: string,
  options: { taskQueue: string; log: (line: string) => void; cfssl?: boolean },
): Promise<BenchLab> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    options.log('starting a Temporal dev server, PyKMIP, and bundling the workflows');
    const metricsPort = await freePort();
    const bundleFile = path.join(dir, 'workflow-bundle.js');
    const cfssl = options.cfssl ? await startCfssl({ dir: path.join(dir, 'cfssl') }) : undefined;
    if (cfssl) stops.push(() => cfssl.stop());
    const [temporal, kmip] = await Promise.all([
      startTemporalDevServer({ dir: path.join(dir, 'temporal'), metricsPort }),
      startPyKmip({ dir: path.join(dir, 'pykmip'), trustedClientCaPems: cfssl ? [cfssl.caPem] : [] }),
      bundleWorkflowCode({
        ...WORKFLOW_BUNDLE_OPTIONS,
        logger: { trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: (m) => options.log(m), log: () => {} },
      }).then(({ code }) => fs.writeFileSync(bundleFile, code)),
    ]);
    stops.push(
      () => temporal.stop(),
      () => kmip.stop(),
    );
    const connection = await Connection.connect({ address: temporal.address });
    stops.push(() => connection.close());
    const registry: ClusterRegistry = { clusters: {}, signers: {} };
    const clustersFile = path.join(dir, 'clusters.yaml');
    const workers: ManagedProcess[] = [];
    stops.push(async () => {
      for (const w of workers) await w.kill();
    });
    const lab: BenchLab = {
      dir,
      taskQueue: options.taskQueue,
      temporal,
      client: new Client({ connection, namespace: temporal.namespace }),
      kmip,
      cfssl,
      clustersFile,
      stop,
      async addCluster(name, { entry, ...clusterOptions }) {
        const cluster = await startSimulatedCluster({ name, dir: path.join(dir, 'clusters', name), ...clusterOptions });
        stops.push(() => cluster.stop());
        registry.clusters[name] = { ...cluster.entry, ...entry };
        fs.writeFileSync(clustersFile, YAML.stringify(registry));
        return cluster;
      },
      async startWorker({ env = {}, nodeFlags = [], glibcMalloc = false } = {}) {
        // The worker needs its clusters file at start (it is written with the first cluster).
        for (let waited = 0; !fs.existsSync(clustersFile); waited += 100) {
          if (waited > 120_000) throw new Error('no cluster was added within 2 minutes: the worker has no clusters file');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const logFile = path.join(dir, `worker-${Date.now()}.log`);
        const jemalloc = glibcMalloc ? undefined : JEMALLOC_PATHS.find((file) => fs.existsSync(file));
        const worker = startProcess('worker', process.execPath, [...nodeFlags, path.join(root, 'dist/worker/main.js')], {
          logFile,
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: temporal.address,
            TEMPORAL_NAMESPACE: temporal.namespace,
            EKM_TASK_QUEUE: options.taskQueue,
            EKM_CLUSTERS_FILE: clustersFile,
            EKM_WORKFLOW_BUNDLE: bundleFile,
            EKM_LOG_LEVEL: 'INFO',
            ...(jemalloc && { LD_PRELOAD: jemalloc }),
            ...env,
          },
        });
        workers.push(worker);
        const deadline = Date.now() + 60_000;
        for (;;) {
          if (fs.existsSync(logFile) && /ekm worker started/.test(fs.readFileSync(logFile, 'utf8'))) break;
          if (!worker.isAlive()) throw new Error(`the worker exited at start: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
          if (Date.now() > deadline) throw new Error('the worker did not start within 60 s');
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        return { worker, readyAt: Date.now(), allocator: jemalloc ? 'jemalloc' : 'glibc malloc' };
      },
      async frontendRequests() {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        let total = 0;
        for (const line of text.split('\n')) {
          if (!line.startsWith('service_requests{') || !line.includes('service_name="frontend"')) continue;
          total += Number(line.slice(line.lastIndexOf(' ') + 1));
        }
        return total;
      },
      rssBytes(pid) {
        const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
        return kb === undefined ? NaN : Number(kb) * 1024;
      },
    };
    return lab;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** min / median / p95 / max of the values, rounded to ms. */
export function distribution(values: number[]): { n: number; min: number; median: number; p95: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  return { n: sorted.length, min: sorted[0] ?? NaN, median: at(0.5), p95: at(0.95), max: sorted.at(-1) ?? NaN };
}

/** A table with aligned columns. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}
