/**
 * `node dist/worker/bundle.js OUT.js`: bundles the workflows once (the Dockerfile does this at
 * build time); a worker started with EKM_WORKFLOW_BUNDLE=OUT.js loads it instead of bundling.
 */
import fs from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_OPTIONS } from './bundle-options';

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: bundle.js OUTPUT_FILE');
  const { code } = await bundleWorkflowCode(WORKFLOW_BUNDLE_OPTIONS);
  fs.writeFileSync(out, code);
  console.error(`workflow bundle written to ${out} (${code.length} bytes)`);
}

main().catch((err: unknown) => {
  console.error(`bundle: ${(err as Error).message}`);
  process.exit(1);
});
