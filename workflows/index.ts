/** Every workflow the worker runs. One file per runbook. */
export { clusterLock } from './cluster-lock';
export { rekeyRunbook } from './rekey';
export { setupRunbook } from './setup';
export { recoverKmipServerFault } from './recover-kmip-server-fault';
export { recoverSliceService } from './recover-slice-service';
export { faultWatcher } from './fault-watcher';
