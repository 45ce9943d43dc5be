/**
 * The modules every run uses, built once per worker and shared by all its runs instead of once per
 * run: the bundler loads this file before any run (its `preloadModules`, worker/bundle-options.ts).
 * Their zod schemas are most of what a run costs to start: without sharing, each run, and each
 * replay of a run that was not cached, built them again: about 1.6 MB of heap and 20 ms of CPU
 * per run, against about 40 KB and under 1 ms shared (100 runs created in the SDK's reusable V8
 * context, 2026-12-01; the effect on a worker: README Benchmarks).
 *
 * What is shared must hold no per-run state: these modules define schemas, message definitions,
 * failure names and pure functions only.
 *
 * The SDK deep-freezes the modules it shares. A zod schema fills in its members on first use and
 * throws once frozen, so each module's exports object is frozen here first, shallowly: the SDK
 * leaves an object that is already frozen alone. Every module of ours that this file loads must
 * be in the list (test/worker/shared-modules.test.ts checks it).
 */
import * as answers from './contract/answers';
import * as contract from './contract';
import * as fields from './contract/fields';
import * as fleet from './contract/fleet';
import * as ids from './contract/ids';
import * as lock from './contract/lock';
import * as messages from './contract/messages';
import * as plan from './contract/plan';
import * as progress from './contract/progress';
import * as recoveries from './contract/recoveries';
import * as failures from './failures';
import * as inputs from './inputs';
import * as recoveryInputs from './inputs-recovery';
import * as renewInputs from './inputs-renew';
import * as issueWords from './issue-words';
import * as durations from '../src/durations';

export const SHARED_MODULES = [
  answers,
  contract,
  fields,
  fleet,
  ids,
  lock,
  messages,
  plan,
  progress,
  recoveries,
  failures,
  inputs,
  recoveryInputs,
  renewInputs,
  issueWords,
  durations,
];

for (const moduleExports of SHARED_MODULES) Object.freeze(moduleExports);
