/**
 * Which clusters a fleet command acts on, from the clusters file: `--clusters 'prod-*,lab-3'`
 * (names and globs with * and ?), `--label site=ams` (repeatable; every label must match), both
 * (a cluster must match both), or `--all`. A selection that matches nothing is bad input (exit 2)
 * naming the selector; so is a plain name (no * or ?) that is not in the clusters file.
 */
import type { ClusterRegistry } from '../config/clusters';
import { LABEL_KEY } from '../config/clusters';
import { CliError, ExitCode } from './exit-codes';

export interface SelectorFlags {
  clusters?: string;
  label?: string[];
  all?: boolean;
}

export interface Selection {
  /** Cluster names, in the order asked for (--order). */
  names: string[];
  /** The selector in the operator's words, e.g. `--clusters 'prod-*' --label site=ams`. */
  selector: string;
  labels: Record<string, Record<string, string>>;
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** `site=ams` -> ['site', 'ams']; anything else is refused naming --label. */
export function parseLabel(text: string): [string, string] {
  const at = text.indexOf('=');
  const key = at < 0 ? '' : text.slice(0, at).trim();
  if (at < 0 || !LABEL_KEY.test(key))
    throw new CliError(`--label: "${text}" must be name=value, e.g. --label site=ams`, ExitCode.usage);
  return [key, text.slice(at + 1).trim()];
}

/** The order children start in: by name (default) or by a label's value, then name. */
export function parseOrder(text: string | undefined): { by: 'name' } | { by: 'label'; key: string } {
  if (text === undefined || text === 'name') return { by: 'name' };
  const m = /^label:(.+)$/.exec(text);
  if (m && LABEL_KEY.test(m[1]!)) return { by: 'label', key: m[1]! };
  throw new CliError(`--order: "${text}" must be name or label:KEY (e.g. label:site)`, ExitCode.usage);
}

/**
 * The clusters the selector names, from the registry. Throws CliError (exit 2) naming the
 * selector when none is given, when it is malformed, or when it matches nothing.
 */
export function selectClusters(
  registry: ClusterRegistry,
  flags: SelectorFlags,
  order: string | undefined,
  clustersFile: string,
): Selection {
  const labelFlags = flags.label ?? [];
  const given = [flags.clusters !== undefined, labelFlags.length > 0, flags.all === true];
  if (!given.some(Boolean))
    throw new CliError('choose clusters: --clusters NAMES|GLOBS, --label KEY=VALUE or --all', ExitCode.usage);
  if (flags.all && (flags.clusters !== undefined || labelFlags.length > 0))
    throw new CliError('--all selects every cluster: leave out --clusters and --label, or leave out --all', ExitCode.usage);
  const sort = parseOrder(order);
  const labelsOf = (name: string) => registry.clusters[name]?.labels ?? {};
  let names = Object.keys(registry.clusters).sort();
  const words: string[] = [];
  if (flags.clusters !== undefined) {
    const parts = flags.clusters
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    if (parts.length === 0) throw new CliError('--clusters: give names or globs, e.g. --clusters "prod-*,lab-3"', ExitCode.usage);
    for (const part of parts) {
      if (!/^[a-z0-9*?][a-z0-9*?-]*$/.test(part))
        throw new CliError(`--clusters: "${part}" is not a cluster name or glob (lowercase letters, digits, dashes, * and ?)`);
      if (!/[*?]/.test(part) && !registry.clusters[part])
        throw new CliError(`--clusters: no cluster "${part}" in ${clustersFile}`, ExitCode.usage);
    }
    const patterns = parts.map(globToRegExp);
    names = names.filter((n) => patterns.some((p) => p.test(n)));
    words.push(`--clusters '${parts.join(',')}'`);
  }
  for (const text of labelFlags) {
    const [key, value] = parseLabel(text);
    names = names.filter((n) => labelsOf(n)[key] === value);
    words.push(`--label ${key}=${value}`);
  }
  if (flags.all) words.push('--all');
  const selector = words.join(' ');
  if (names.length === 0) throw new CliError(`${selector} matches no cluster in ${clustersFile}`, ExitCode.usage);
  if (sort.by === 'label') {
    // A label none of them has orders nothing: most likely a misspelt key.
    if (!names.some((n) => labelsOf(n)[sort.key] !== undefined)) {
      const keys = [...new Set(names.flatMap((n) => Object.keys(labelsOf(n))))].sort();
      throw new CliError(
        `--order label:${sort.key}: no selected cluster has the label ${sort.key}` +
          (keys.length > 0 ? ` (their labels: ${keys.join(', ')})` : ' (they have no labels)'),
        ExitCode.usage,
      );
    }
    const value = (n: string) => labelsOf(n)[sort.key] ?? '\uffff';
    names.sort((a, b) => value(a).localeCompare(value(b)) || a.localeCompare(b));
  }
  return { names, selector, labels: Object.fromEntries(names.map((n) => [n, labelsOf(n)])) };
}
