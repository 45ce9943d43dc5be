/** ListClusterFaults (default all) and ClearClusterFaults (default resolved). */
import { faultJson } from '../faults';
import { Bool, FaultSelection } from '../params';
import type { FaultRecord } from '../state';
import { defineMethod, type MethodTable } from './types';

function selected(fault: FaultRecord, selection: 'current' | 'resolved' | 'all'): boolean {
  if (selection === 'all') return true;
  return selection === 'resolved' ? fault.resolvedUs !== null : fault.resolvedUs === null;
}

export const faultMethods: MethodTable = {
  ListClusterFaults: defineMethod({
    since: '1.0',
    params: { bestPractices: Bool.optional(), faultTypes: FaultSelection.optional() },
    async run(ctx, p) {
      return ctx.cluster.run((state) => ({
        faults: state.faults
          .filter((f) => selected(f, p.faultTypes ?? 'all'))
          .filter((f) => p.bestPractices === true || f.severity !== 'bestPractice')
          .sort((a, b) => a.clusterFaultID - b.clusterFaultID)
          .map(faultJson),
      }));
    },
  }),

  /** Clearing a current fault whose condition still holds brings it back (with a new ID). */
  ClearClusterFaults: defineMethod({
    since: '1.0',
    params: { faultTypes: FaultSelection.optional() },
    async run(ctx, p) {
      return ctx.cluster.run((state) => {
        const selection = p.faultTypes ?? 'resolved';
        state.faults = state.faults.filter((f) => !selected(f, selection));
        return {};
      });
    },
  }),
};
