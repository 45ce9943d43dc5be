import { parseClusterRegistry } from '../../src/config/clusters';
import { ConfigError } from '../../src/config/zod-errors';
import { selectClusters } from '../../src/cli/fleet-selection';
import { cliRefusal } from '../support/cli-refusal';

const entry = (labels: string) => `
    mvip: https://10.0.0.5
    apiVersion: "12.3"
    username: admin
    password: { env: X }
    insecure: true
    labels: ${labels}`;

const registry = parseClusterRegistry(
  `clusters:
  prod-ams-1:${entry('{ site: ams, env: prod }')}
  prod-ams-2:${entry('{ site: ams, env: prod, tier: 2 }')}
  prod-fra-1:${entry('{ site: fra, env: prod }')}
  lab-3:${entry('{ site: ams, env: lab }')}
  lab-4:${entry('{}')}
`,
  'clusters.yaml',
  '/etc/ekm',
);


describe('fleet selection from the clusters file', () => {
  test('labels are read as text; a bad label name is refused naming the field', () => {
    expect(registry.clusters['prod-ams-2']!.labels).toEqual({ site: 'ams', env: 'prod', tier: '2' });
    expect(() => parseClusterRegistry(`clusters:\n  a:${entry('{ "bad key": x }')}\n`, 'c.yaml', '/')).toThrow(ConfigError);
    expect(() => parseClusterRegistry(`clusters:\n  a:${entry('{ "bad key": x }')}\n`, 'c.yaml', '/')).toThrow(/labels/);
  });

  test('names and globs, labels ANDed, both together, --all', () => {
    const names = (flags: Parameters<typeof selectClusters>[1], order?: string) =>
      selectClusters(registry, flags, order, 'clusters.yaml').names;
    expect(names({ clusters: 'prod-*,lab-3' })).toEqual(['lab-3', 'prod-ams-1', 'prod-ams-2', 'prod-fra-1']);
    expect(names({ clusters: 'prod-???-1' })).toEqual(['prod-ams-1', 'prod-fra-1']);
    expect(names({ label: ['site=ams'] })).toEqual(['lab-3', 'prod-ams-1', 'prod-ams-2']);
    expect(names({ label: ['site=ams', 'env=prod'] })).toEqual(['prod-ams-1', 'prod-ams-2']);
    expect(names({ clusters: 'lab-*', label: ['site=ams'] })).toEqual(['lab-3']);
    expect(names({ all: true })).toHaveLength(5);
    expect(names({ all: true }, 'label:site')).toEqual(['lab-3', 'prod-ams-1', 'prod-ams-2', 'prod-fra-1', 'lab-4']);
    expect(selectClusters(registry, { clusters: 'prod-*', label: ['env=prod'] }, undefined, 'f').selector).toBe(
      "--clusters 'prod-*' --label env=prod",
    );
  });

  test('an empty selection, a missing or malformed selector, an unknown name: exit 2 naming the selector', () => {
    const empty = cliRefusal(() => selectClusters(registry, { clusters: 'dev-*' }, undefined, 'clusters.yaml'));
    expect(empty.exitCode).toBe(2);
    expect(empty.message).toBe("--clusters 'dev-*' matches no cluster in clusters.yaml");
    expect(cliRefusal(() => selectClusters(registry, { label: ['site=sjc'] }, undefined, 'f')).message).toMatch(
      /^--label site=sjc matches no cluster/,
    );
    expect(cliRefusal(() => selectClusters(registry, {}, undefined, 'f')).message).toMatch(/--clusters.*--label.*--all/);
    expect(cliRefusal(() => selectClusters(registry, { label: ['site'] }, undefined, 'f')).message).toMatch(/^--label: "site"/);
    expect(cliRefusal(() => selectClusters(registry, { clusters: 'prod-a' }, undefined, 'f')).message).toMatch(
      /^--clusters: no cluster "prod-a"/,
    );
    expect(cliRefusal(() => selectClusters(registry, { all: true, label: ['a=b'] }, undefined, 'f')).message).toMatch(/^--all/);
    expect(cliRefusal(() => selectClusters(registry, { all: true }, 'size', 'f')).message).toMatch(/^--order/);
    // A label no selected cluster has (a misspelt key) orders nothing: refused, naming the labels they have.
    const noLabel = cliRefusal(() => selectClusters(registry, { all: true }, 'label:sight', 'f'));
    expect(noLabel.exitCode).toBe(2);
    expect(noLabel.message).toBe('--order label:sight: no selected cluster has the label sight (their labels: env, site, tier)');
    expect(cliRefusal(() => selectClusters(registry, { clusters: 'lab-4' }, 'label:site', 'f')).message).toBe(
      '--order label:site: no selected cluster has the label site (they have no labels)',
    );
  });
});
