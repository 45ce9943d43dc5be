/**
 * How the workflows are bundled: the same for a worker that bundles at start, `worker/bundle.ts`
 * (the Dockerfile's pre-built bundle), the tests and the benchmarks.
 */
import type { BundleOptions } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../src/codec/data-converter';

/** Log fields and activity headers (workflows/interceptors.ts). */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('../workflows/interceptors')];

/** Built once per worker and shared by its runs (workflows/shared-modules.ts says why and what). */
export const WORKFLOW_PRELOAD_MODULES = [require.resolve('../workflows/shared-modules')];

export const WORKFLOW_BUNDLE_OPTIONS = {
  workflowsPath: require.resolve('../workflows'),
  // Failure messages go in encoded attributes, so a worker with EKM_PAYLOAD_KEYS_FILE encrypts them too.
  failureConverterPath: FAILURE_CONVERTER_PATH,
  workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
  preloadModules: WORKFLOW_PRELOAD_MODULES,
} satisfies BundleOptions;
