import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { testEnv } from '../support/test-env';
import * as activities from '../fixtures/roundtrip-activities';

describe('Temporal dev server (real, started by global setup)', () => {
  it('runs a workflow whose activity result comes back through the server', async () => {
    const env = testEnv();
    const taskQueue = `roundtrip-${randomUUID()}`;
    const nativeConnection = await NativeConnection.connect({ address: env.temporal.address });
    const connection = await Connection.connect({ address: env.temporal.address });
    try {
      const worker = await Worker.create({
        connection: nativeConnection,
        namespace: env.temporal.namespace,
        taskQueue,
        workflowsPath: require.resolve('../fixtures/roundtrip-workflow'),
        activities,
      });
      const client = new Client({ connection, namespace: env.temporal.namespace });
      const workflowId = `roundtrip-${randomUUID()}`;
      const result = await worker.runUntil(client.workflow.execute('roundTrip', { taskQueue, workflowId, args: ['hello'] }));
      expect(result).toBe('HELLO from shout!');
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const completed = history.events?.filter((e) => e.activityTaskCompletedEventAttributes) ?? [];
      expect(completed).toHaveLength(1);
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });
});
