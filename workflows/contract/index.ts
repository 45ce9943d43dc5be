/**
 * The contract between the runbooks and their clients (CLI, schedules, demo, tests): every
 * query, signal and update by name, each with a zod schema for its argument and its answer, and
 * the workflow ids. Workflow handlers validate with these schemas, clients build and check with
 * them, and the `--json` outputs reuse them, so there is one definition of each shape.
 * Workflow-safe: zod, Temporal's message definitions and data only.
 */
export * from './answers';
export * from './fields';
export * from './ids';
export * from './lock';
export * from './messages';
export * from './progress';
export * from './recoveries';
export * from './plan';
export * from './fleet';
