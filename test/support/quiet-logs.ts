import { DefaultLogger, Runtime } from '@temporalio/worker';

// Worker state changes at INFO drown test output; keep warnings and errors.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // already installed in this process
}
