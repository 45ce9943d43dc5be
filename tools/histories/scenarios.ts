/**
 * Runs the demo never plays, driven the way an operator would (updates through the client), on
 * the recorder's lab. Each one checks that what it is named for really happened, so a recorded
 * history is what its file name says.
 */
import { WorkflowUpdateFailedError, type Workflow, type WorkflowHandle } from '@temporalio/client';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../../src/pki/authority';
import { x509 } from '../../src/pki/x509';
import {
  answerUpdate,
  progressQuery,
  submitCertificateUpdate,
  workflowIds,
  type RunbookName,
  type RunbookProgress,
} from '../../workflows/contract';
import { fleetWorkflowId, type FleetInput } from '../../workflows/contract';
import { fleetRunbook } from '../../workflows/fleet';
import { runbooks, runbookStart, type RunbookInput, type RunbookResult } from '../../workflows/runbooks';
import { configureEkmByHand } from '../devenv/ekm-by-hand';
import type { Lab, LabCluster } from '../devenv/lab';

/** The workflow ids a scenario made, and the scenario name their files get. */
export interface ScenarioRuns {
  scenario: string;
  workflowIds: string[];
}

const FAST_POLL = { initialInterval: 200, maxInterval: 500, attemptWindow: 20_000 };
const DAY_MS = 86_400_000;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe().catch(() => undefined);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts a runbook through the runbook table; its handle's result() is the runbook's result type. */
async function start<R extends RunbookName>(lab: Lab, runbook: R, input: RunbookInput<R>) {
  const handle = await lab.client.workflow.start(
    runbooks[runbook].workflow as Workflow,
    runbookStart(runbook, input, { taskQueue: lab.taskQueue }),
  );
  return handle as typeof handle & { result(): Promise<RunbookResult<R>> };
}

/** The lock workflow idles out after its runbook released it (see record-histories.ts), so its history is complete. */
async function lockFinished(lab: Lab, cluster: string): Promise<string> {
  const id = workflowIds.clusterLock(cluster);
  await lab.client.workflow.getHandle(id).result();
  return id;
}

const waitingOn = (handle: WorkflowHandle, matches: (p: RunbookProgress) => boolean) =>
  waitFor('the runbook to wait for a person', async () => {
    const progress = await handle.query(progressQuery.definition);
    return matches(progress) ? progress : undefined;
  });

/**
 * Setup with manual signing: one submitted certificate rejected (expires within 30 days), the
 * next accepted; then the key server test fails (KMIP unreachable) and an operator answers
 * "retry" once it is reachable again.
 */
export async function setupManualCertRetry(lab: Lab, cluster: LabCluster): Promise<ScenarioRuns> {
  const { kmip } = lab;
  await cluster.sim.control.makeUnreachable(kmip.host);
  const input: RunbookInput<'setup'> = {
    cluster: cluster.name,
    subject: { commonName: `${cluster.name}.example.test`, organization: 'EKM histories', country: 'US' },
    keyProviderName: 'kmip-provider',
    keyServerName: 'kmip-server',
    hostnames: [kmip.host],
    port: kmip.port,
    kmipCaCertificate: kmip.pki.ca.certificatePem,
    mode: 'hardware',
    signer: { type: 'manual' },
    testAttempts: 2,
    testRetryInterval: '200ms',
    questionReminderEvery: '1h',
    polling: FAST_POLL,
    requestedBy: 'record-histories',
  };
  const handle = await start(lab, 'setup', input);
  const id = handle.workflowId;
  const signing = await waitingOn(handle, (p) => p.waiting?.kind === 'signed-certificate' && Boolean(p.waiting.csrPem));
  const csr = new x509.Pkcs10CertificateRequest(signing.waiting!.csrPem!);
  const sign = async (notAfter?: Date) =>
    (await issueCertificate(kmip.pki.ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'], notAfter }))
      .certificatePem;
  const caChainPem = kmip.pki.ca.certificatePem;

  const rejected = await handle
    .executeUpdate(submitCertificateUpdate.definition, {
      args: [{ certificatePem: await sign(new Date(Date.now() + 10 * DAY_MS)), caChainPem, by: 'ca-team' }],
    })
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  if (!(rejected instanceof WorkflowUpdateFailedError))
    throw new Error('setup accepted a certificate that expires within 30 days');
  await handle.executeUpdate(submitCertificateUpdate.definition, {
    args: [{ certificatePem: await sign(), caChainPem, by: 'ca-team' }],
  });

  await waitingOn(handle, (p) => p.waiting?.step === 'test-server');
  await cluster.sim.control.makeReachable(kmip.host);
  await handle.executeUpdate(answerUpdate.definition, {
    args: [{ action: 'retry', by: 'on-call', comment: 'firewall rule fixed' }],
  });
  const result = await handle.result();
  const progress = await handle.query(progressQuery.definition);
  const testServer = progress.steps.find((s) => s.id === 'test-server');
  if (result.mode !== 'hardware' || testServer?.attempts !== 2) {
    throw new Error(`setup did not go as scripted: mode ${result.mode}, test-server attempts ${testServer?.attempts}`);
  }
  return { scenario: 'manual-cert-retry', workflowIds: [id, await lockFinished(lab, cluster.name)] };
}

/** A rekey started by hand on the cluster is running; the rekey runbook attaches to it instead of starting another. */
export async function rekeyAttachRunning(lab: Lab, cluster: LabCluster): Promise<ScenarioRuns> {
  const { keyProviderID: providerID } = await cluster.configureEkm(`${cluster.name}.example.test`);
  await cluster.sim.control.setDurations({ rekeyMs: 4000 });
  const { asyncHandle } = await cluster.element.call('RekeySoftwareEncryptionAtRestMasterKey', {
    keyManagementType: 'External',
    keyProviderID: providerID,
  });
  const input: RunbookInput<'rekey'> = {
    cluster: cluster.name,
    keyManagement: 'external',
    polling: FAST_POLL,
    requestedBy: 'record-histories',
  };
  const handle = await start(lab, 'rekey', input);
  const id = handle.workflowId;
  const result = await handle.result();
  if (!result.attachedToRunningRekey || result.asyncHandle !== asyncHandle) {
    throw new Error(`the rekey runbook did not attach to running rekey ${asyncHandle} (got ${result.asyncHandle})`);
  }
  // Its cluster lock run is left out: the setup scenario records a complete one already.
  return { scenario: 'attach-running', workflowIds: [id] };
}

/** A notify-only watcher that continues as new every 2 polls, stopped (cancelled) in its second run. */
export async function faultWatcherNotifyOnly(lab: Lab, cluster: LabCluster): Promise<ScenarioRuns> {
  const input: RunbookInput<'fault-watcher'> = {
    cluster: cluster.name,
    interval: '300ms',
    notifyOnly: true,
    pollsPerRun: 2,
    requestedBy: 'record-histories',
  };
  const id = (await start(lab, 'fault-watcher', input)).workflowId;
  // A handle without a run id follows the chain to its latest run.
  const latest = lab.client.workflow.getHandle(id);
  await waitFor('the watcher to continue as new', async () => {
    const progress = await latest.query(progressQuery.definition);
    return progress.notes.some((n) => n.includes('continued as new')) ? true : undefined;
  });
  await latest.cancel();
  const result = (await latest.result()) as RunbookResult<'fault-watcher'>;
  if (!result.stopped) throw new Error('the watcher did not stop on cancel');
  return { scenario: 'notify-only', workflowIds: [id] };
}

/**
 * kmipServerFault recovery waiting across continue-as-new: the key server is unreachable when the
 * cluster restarts, the runbook re-tests twice per run and continues as new until the server is
 * back. Needs a cluster with hardware encryption keyed by a provider (the setup scenario's).
 */
export async function recoverKmipContinuedAsNew(lab: Lab, cluster: LabCluster): Promise<ScenarioRuns> {
  const { kmip } = lab;
  await cluster.sim.control.setDurations({ kmipRetryMs: 400 });
  await cluster.sim.control.makeUnreachable(kmip.host);
  await cluster.sim.control.restartCluster();
  const input: RunbookInput<'recover-kmip-server-fault'> = {
    cluster: cluster.name,
    retest: { initialInterval: 300, maxInterval: 300 },
    retestsPerRun: 2,
    faultPollInterval: 200,
    resolveWindow: 20_000,
    requestedBy: 'record-histories',
  };
  const first = await start(lab, 'recover-kmip-server-fault', input);
  const id = first.workflowId;
  const latest = lab.client.workflow.getHandle(id);
  await waitFor('the recovery to continue as new', async () =>
    (await latest.describe()).runId !== first.firstExecutionRunId ? true : undefined,
  );
  await cluster.sim.control.makeReachable(kmip.host);
  const result = (await latest.result()) as RunbookResult<'recover-kmip-server-fault'>;
  if (result.outcome !== 'recovered' || result.retests < 3) {
    throw new Error(`the recovery did not go as scripted: ${result.outcome} after ${result.retests} re-tests`);
  }
  return { scenario: 'continued-as-new', workflowIds: [id] };
}

/**
 * A renewal with manual signing whose first certificate is signed by a CA the key server does not
 * trust: the cluster stores it (modify-key-server `store`), the tests fail, the previous
 * certificate is put back, the runbook asks, and a `change` with a certificate from the key
 * server's CA completes it. Needs a cluster whose client certificate expires in 10 days.
 */
export async function renewRollbackChange(lab: Lab, cluster: LabCluster): Promise<ScenarioRuns> {
  const { kmip } = lab;
  const kmipForCluster = { host: kmip.host, port: kmip.port, caPem: kmip.pki.ca.certificatePem };
  const { keyServerID } = await configureEkmByHand(cluster.element, kmipForCluster, kmip.pki.ca, {
    commonName: `${cluster.name}.example.test`,
    clientNotAfter: new Date(Date.now() + 10 * DAY_MS),
  });
  await cluster.sim.control.setModifyKeyServer('store');
  const input: RunbookInput<'renew'> = {
    cluster: cluster.name,
    signer: { type: 'manual' },
    testAttempts: 2,
    testRetryInterval: '200ms',
    faultPollInterval: '200ms',
    resolveWindow: '1m',
    questionReminderEvery: '1h',
    requestedBy: 'record-histories',
  };
  const handle = await start(lab, 'renew', input);
  const signing = await waitingOn(handle, (p) => p.waiting?.kind === 'signed-certificate' && Boolean(p.waiting.csrPem));
  const csr = new x509.Pkcs10CertificateRequest(signing.waiting!.csrPem!);
  const sign = async (ca: CertificateAuthority) =>
    (await issueCertificate(ca, { subject: csr.subject, publicKey: csr.publicKey, usages: ['client'] })).certificatePem;
  const stranger = await createCertificateAuthority('a CA the key server does not trust');
  await handle.executeUpdate(submitCertificateUpdate.definition, {
    args: [{ certificatePem: await sign(stranger), caChainPem: stranger.certificatePem, by: 'ca-team' }],
  });
  await waitingOn(handle, (p) => p.waiting?.step === 'install');
  await handle.executeUpdate(answerUpdate.definition, {
    args: [
      {
        action: 'change',
        by: 'on-call',
        clientCertificate: { certificatePem: await sign(kmip.pki.ca), caChainPem: kmip.pki.ca.certificatePem },
      },
    ],
  });
  const result = await handle.result();
  const modifies = (await cluster.sim.control.calls({ method: 'ModifyKeyServerKmip' })).filter((c) => c.executed);
  if (result.keyServerID !== keyServerID || result.keyPair !== 'kept' || modifies.length !== 3) {
    throw new Error(`the renewal did not go as scripted: ${modifies.length} modifies, key pair ${result.keyPair}`);
  }
  // Its cluster lock run is left out: the setup scenario records a complete one already.
  return { scenario: 'rollback-change', workflowIds: [handle.workflowId] };
}

/** A fleet rekey over two clusters, one at a time: each child rekeys its cluster and the fleet completes. */
export async function fleetRekeyOneAtATime(lab: Lab, clusters: LabCluster[]): Promise<ScenarioRuns> {
  for (const cluster of clusters) await cluster.configureEkm(`${cluster.name}.example.test`);
  const names = clusters.map((c) => c.name);
  const input: FleetInput = {
    runbook: 'rekey',
    clusters: names,
    selector: names.join(','),
    input: { keyManagement: 'external', polling: FAST_POLL, requestedBy: 'record-histories' },
    maxConcurrency: { count: 1 },
    maxErrors: { count: 1 },
    followEveryMs: 500,
    requestedBy: 'record-histories',
  };
  const handle = await lab.client.workflow.start(fleetRunbook, {
    workflowId: fleetWorkflowId('rekey', 'record'),
    taskQueue: lab.taskQueue,
    args: [input],
  });
  const result = await handle.result();
  if (result.state !== 'completed' || result.status.clusters.some((c) => c.state !== 'completed')) {
    throw new Error(`the fleet rekey did not complete every cluster: ${JSON.stringify(result.status.clusters)}`);
  }
  return { scenario: 'one-at-a-time', workflowIds: [handle.workflowId] };
}
