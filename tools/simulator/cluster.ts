/**
 * The simulated cluster: its state, one lock around every read-modify-persist, the background work
 * that moves it along by wall clock (EAR transitions, async jobs, key fetches after a restart,
 * slice service settling, faults), and the KMIP I/O that runs outside the lock.
 *
 * Every change is persisted before the lock is released, so a simulator killed at any moment
 * restarts where it was; time-based progress is computed from timestamps in the state, so jobs
 * keep progressing by wall clock across a restart.
 */
import type { CsrVersion } from './crypto';
import type { Durations } from './durations';
import { refreshFaults } from './faults';
import { advanceJobs } from './jobs';
import { fetchKey, toLinkError, type KmipLinkContext } from './kmip-link';
import { externalKeysInUse, serversOfProvider } from './model';
import { Mutex } from './mutex';
import {
  loadStateFile,
  newClusterState,
  StateStore,
  type ClusterState,
  type KeyAccess,
  type KeyServerRecord,
  type NewClusterOptions,
} from './state';

export interface ClusterConfig {
  /** The cluster's current API version (GetAPI currentVersion); endpoints up to it are served. */
  apiVersion: string;
  /** The version field of the CSRs of key pairs made from now on (2 as a real cluster, 0 as PKCS#10). */
  csrVersion: CsrVersion;
  durations: Durations;
  log: (line: string) => void;
}

export type CreateClusterOptions = Omit<NewClusterOptions, 'now'>;

const STOP_WAIT_MS = 3_000;

export class SimulatedCluster {
  private readonly mutex = new Mutex();
  private readonly tasks = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    readonly stateFile: string,
    private state: ClusterState,
    private readonly store: StateStore,
    readonly config: ClusterConfig,
  ) {}

  /** Loads the state file, or creates a new cluster (and the file) when there is none. */
  static open(
    stateFile: string,
    create: CreateClusterOptions,
    config: ClusterConfig,
  ): { cluster: SimulatedCluster; created: boolean } {
    const store = new StateStore(stateFile);
    store.removeStaleTemporaries();
    const loaded = loadStateFile(stateFile);
    if (loaded) {
      store.markLoaded(loaded);
      return { cluster: new SimulatedCluster(stateFile, loaded, store, config), created: false };
    }
    const state = newClusterState({ ...create, now: Date.now() });
    store.save(state);
    return { cluster: new SimulatedCluster(stateFile, state, store, config), created: true };
  }

  get durations(): Durations {
    return this.config.durations;
  }

  log(line: string): void {
    this.config.log(line);
  }

  /** Starts the background tick. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.run(() => undefined).catch((err: unknown) => this.log(`tick failed: ${(err as Error).message}`));
    }, this.durations.tickMs);
    this.timer.unref();
  }

  /** Stops the tick, waits briefly for KMIP work in flight, persists. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const pending = [...this.tasks.values()];
    if (pending.length > 0) {
      await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
    }
    await this.mutex.run(() => {
      this.store.save(this.state);
    });
  }

  /**
   * Runs fn under the lock on an up-to-date state and persists whatever changed. fn must check
   * before it changes anything: a throw after a partial change would persist the partial change.
   */
  run<T>(fn: (state: ClusterState, now: number) => T | Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      this.advance(Date.now());
      try {
        return await fn(this.state, Date.now());
      } finally {
        this.advance(Date.now());
        this.store.save(this.state);
      }
    });
  }

  /** A deep copy of the state (for the control API and tests; contains the private key). */
  snapshot(): Promise<ClusterState> {
    return this.run((state) => structuredClone(state));
  }

  /**
   * Runs a background task (KMIP I/O) outside the lock, at most one per key at a time. The task
   * applies its outcome with run().
   */
  schedule(key: string, task: () => Promise<void>): void {
    if (this.stopped || this.tasks.has(key)) return;
    const promise = task()
      .catch((err: unknown) => this.log(`background task ${key} failed: ${(err as Error).message}`))
      .finally(() => this.tasks.delete(key));
    this.tasks.set(key, promise);
  }

  /** True while a background task with this key is running. */
  isBusy(key: string): boolean {
    return this.tasks.has(key);
  }

  kmipContext(state: ClusterState = this.state): KmipLinkContext {
    return {
      privateKeyPem: state.keyPair?.privateKeyPem,
      privateKeyFingerprint: state.keyPair?.publicKeyFingerprint,
      unreachableHosts: new Set(state.injection.unreachableHosts),
      withheldKeys: new Set(state.injection.withheldKeys),
      connectTimeoutMs: this.durations.kmipConnectTimeoutMs,
      responseTimeoutMs: this.durations.kmipResponseTimeoutMs,
    };
  }

  /**
   * A simulated cluster restart (or, with restart false, a key re-read): the cluster must fetch
   * every external key in use from the KMIP server again before its drives unlock.
   */
  lockForKeyFetch(state: ClusterState, now: number, restart: boolean): void {
    if (restart) {
      state.cluster.restarts += 1;
      state.cluster.downUntil = this.durations.restartDowntimeMs > 0 ? now + this.durations.restartDowntimeMs : null;
    }
    state.keyAccess = { status: 'locked', since: now, nextAttemptAt: now, attempts: 0, lastError: null };
  }

  // -------------------------------------------------------------------------------------------
  // Background progress

  private advance(now: number): void {
    const state = this.state;
    if (state.cluster.downUntil !== null && now >= state.cluster.downUntil) state.cluster.downUntil = null;
    this.advanceEncryption(state, now);
    advanceJobs(this, state, now);
    this.advanceSliceIncidents(state, now);
    this.advanceKeyAccess(state, now);
    refreshFaults(state, now, this.durations);
  }

  private advanceEncryption(state: ClusterState, now: number): void {
    const ear = state.ear;
    if (ear.state === 'enabling' && now - ear.since >= this.durations.earTransitionMs) {
      ear.state = 'enabled';
      ear.since = now;
      this.log(`encryption at rest enabled (${ear.key?.keyManagementType ?? 'internal'} key)`);
    } else if (ear.state === 'disabling' && now - ear.since >= this.durations.earTransitionMs) {
      ear.state = 'disabled';
      ear.since = now;
      ear.key = null;
      this.log('encryption at rest disabled');
    }
  }

  /** The settle time of a failed metadata drive runs from when it is active again. */
  private advanceSliceIncidents(state: ClusterState, now: number): void {
    state.sliceIncidents = state.sliceIncidents.filter((incident) => {
      const drive = state.drives.find((d) => d.driveID === incident.driveID);
      if (drive?.status === 'active') {
        if (incident.activeAt === null) incident.activeAt = now;
      } else {
        incident.activeAt = null;
      }
      const settled =
        incident.addingHelps && incident.activeAt !== null && now - incident.activeAt >= this.durations.sliceSettleMs;
      if (settled) this.log(`slice service ${incident.serviceID} healthy again (drive ${incident.driveID})`);
      return !settled;
    });
  }

  private advanceKeyAccess(state: ClusterState, now: number): void {
    const access = state.keyAccess;
    if (access.status !== 'locked') return;
    const keys = externalKeysInUse(state);
    if (keys.length === 0) {
      state.keyAccess = { status: 'unlocked', since: now, nextAttemptAt: now, attempts: access.attempts, lastError: null };
      return;
    }
    if (now < access.nextAttemptAt || this.isBusy('key-access')) return;
    const generation = access.since;
    const plan = keys.map(({ key }) => {
      const provider = state.keyProviders.find((p) => p.keyProviderID === key.keyProviderID);
      const servers: KeyServerRecord[] = provider ? structuredClone(serversOfProvider(state, provider)) : [];
      return { key: structuredClone(key), servers };
    });
    const ctx = this.kmipContext(state);
    this.schedule('key-access', async () => {
      let failure: KeyAccess['lastError'] = null;
      for (const { key, servers } of plan) {
        try {
          await fetchKey(servers, ctx, key.kmipUniqueIdentifier ?? '');
        } catch (err) {
          const link = toLinkError(err, servers, `fetching key ${key.keyID}`);
          failure = {
            category: link.category,
            details: link.message,
            keyID: key.keyID,
            keyProviderID: key.keyProviderID,
            keyServerIDs: servers.map((s) => s.keyServerID),
          };
          break;
        }
      }
      await this.run((s, t) => {
        const current = s.keyAccess;
        if (current.status !== 'locked' || current.since !== generation) return;
        current.attempts += 1;
        if (failure) {
          current.lastError = failure;
          current.nextAttemptAt = t + this.durations.kmipRetryMs;
          this.log(`key fetch attempt ${current.attempts} failed: ${failure.details}`);
        } else {
          s.keyAccess = { status: 'unlocked', since: t, nextAttemptAt: t, attempts: current.attempts, lastError: null };
          this.log(`keys fetched from the KMIP server after ${current.attempts} attempt(s); drives unlocked`);
        }
      });
    });
  }
}
