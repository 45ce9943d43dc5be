import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const dashboard = JSON.parse(fs.readFileSync(path.join(root, 'deploy/grafana/ekm-runbooks.json'), 'utf8')) as {
  uid: string;
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
};

/** Metric names the worker defines (quoted in the files that create them). */
function definedMetrics(): Set<string> {
  const names = new Set<string>();
  for (const file of ['workflows/telemetry.ts', 'src/metrics/activity-metrics.ts', 'worker/metrics.ts']) {
    for (const [, name] of fs.readFileSync(path.join(root, file), 'utf8').matchAll(/'(ekm_[a-z_]+)'/g)) names.add(name!);
  }
  return names;
}

describe('deploy/grafana/ekm-runbooks.json', () => {
  it('queries only metrics the worker defines, and shows each of them', () => {
    const defined = definedMetrics();
    expect(defined.size).toBeGreaterThanOrEqual(10);
    const used = new Set(
      dashboard.panels
        .flatMap((p) => p.targets.map((t) => t.expr))
        .flatMap((expr) => [...expr.matchAll(/\b(ekm_[a-z_]+?)(?:_bucket|_count|_sum)?\b/g)].map((m) => m[1]!)),
    );
    expect([...used].filter((name) => !defined.has(name))).toEqual([]);
    expect([...defined].filter((name) => !used.has(name))).toEqual([]);
    // The SDK's own worker metrics are on the same endpoint: some panels show them.
    expect(dashboard.panels.some((p) => p.targets.some((t) => /\btemporal_/.test(t.expr)))).toBe(true);
  });
});
