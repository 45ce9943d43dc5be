/** GetAPI, GetClusterInfo, ListActiveNodes. */
import { supportedVersions, softwareVersionFor } from '../versions';
import { defineMethod, type MethodTable } from './types';

export const clusterMethods: MethodTable = {
  GetAPI: defineMethod({
    since: '1.0',
    params: {},
    async run(ctx) {
      const current = ctx.cluster.config.apiVersion;
      return {
        [current]: ctx.methodsAt(current),
        currentVersion: current,
        supportedVersions: supportedVersions(current),
      };
    },
  }),

  GetClusterInfo: defineMethod({
    since: '1.0',
    params: {},
    async run(ctx) {
      return ctx.cluster.run((state) => {
        // Ensembles have an odd number of members: 5 on clusters of five nodes or more, else 3.
        const size = state.nodes.length >= 5 ? 5 : Math.min(3, state.nodes.length);
        const ensemble = state.nodes.slice(0, size).map((n) => n.sip);
        return {
          clusterInfo: {
            attributes: {},
            defaultProtectionScheme: 'doubleHelix',
            enabledProtectionSchemes: ['doubleHelix'],
            encryptionAtRestState: state.ear.state,
            ensemble,
            mvip: state.cluster.mvip,
            mvipNodeID: state.nodes[0]?.nodeID ?? 1,
            name: state.cluster.name,
            repCount: 2,
            softwareEncryptionAtRestState: state.sear.enabled ? 'enabled' : 'disabled',
            supportedProtectionSchemes: ['doubleHelix'],
            svip: state.cluster.svip,
            svipNodeID: state.nodes[0]?.nodeID ?? 1,
            uniqueID: state.cluster.uniqueID,
            uuid: state.cluster.uuid,
          },
        };
      });
    },
  }),

  ListActiveNodes: defineMethod({
    since: '1.0',
    params: {},
    async run(ctx) {
      const version = softwareVersionFor(ctx.cluster.config.apiVersion);
      return ctx.cluster.run((state) => ({
        nodes: state.nodes.map((n) => ({
          associatedFServiceID: 0,
          associatedMasterServiceID: n.nodeID,
          attributes: {},
          chassisName: `${n.name}-chassis`,
          cip: n.cip,
          cipi: 'Bond10G',
          customProtectionDomainName: '',
          maintenanceMode: 'Disabled',
          mip: n.mip,
          mipi: 'Bond1G',
          name: n.name,
          nodeID: n.nodeID,
          platformInfo: {
            chassisType: 'R620',
            cpuModel: 'Intel(R) Xeon(R) CPU E5-2640 v4 @ 2.40GHz',
            nodeMemoryGB: 256,
            nodeType: 'H610S',
          },
          role: 'Storage',
          sip: n.sip,
          sipi: 'Bond10G',
          softwareVersion: version,
          uuid: n.uuid,
          virtualNetworks: [],
        })),
      }));
    },
  }),
};
