/**
 * `node dist/worker/bundle.js OUT.js`: bundles the workflows once (the Dockerfile does this at
 * build time); a worker started with EKM_WORKFLOW_BUNDLE=OUT.js loads it instead of bundling.
 */
import fs from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../src/codec/data-converter';

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: bundle.js OUTPUT_FILE');
  // Failure messages go in encoded attributes, so a worker with EKM_PAYLOAD_KEYS_FILE encrypts them too.
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    workflowInterceptorModules: [require.resolve('../workflows/interceptors')],
  });
  fs.writeFileSync(out, code);
  console.error(`workflow bundle written to ${out} (${code.length} bytes)`);
}

main().catch((err: unknown) => {
  console.error(`bundle: ${(err as Error).message}`);
  process.exit(1);
});
