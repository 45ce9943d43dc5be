/** Every workflow the worker runs: the six runbooks and the cluster lock. */
export { clusterLock } from './cluster-lock';
export { faultWatcher } from './fault-watcher';
export { recoverKmipServerFault } from './recover-kmip-server-fault';
export { recoverSliceService } from './recover-slice-service';
export { rekeyRunbook } from './rekey';
export { renewRunbook } from './renew';
export { setupRunbook } from './setup';
export { fleetRunbook } from './fleet';
