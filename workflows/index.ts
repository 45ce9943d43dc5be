/** Every workflow the worker runs. One file per runbook. */
export { clusterLock } from './cluster-lock';
export { rekeyRunbook } from './rekey';
