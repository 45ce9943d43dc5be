import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes every runbook sets, so `ekm list` can filter by cluster, runbook,
 * step and state. The dev server is started with these; a production namespace needs them
 * registered once (`temporal operator search-attribute create`). Workflow-safe: no I/O.
 */
export const EkmCluster = defineSearchAttributeKey('EkmCluster', SearchAttributeType.KEYWORD);
export const EkmRunbook = defineSearchAttributeKey('EkmRunbook', SearchAttributeType.KEYWORD);
export const EkmStep = defineSearchAttributeKey('EkmStep', SearchAttributeType.KEYWORD);
export const EkmState = defineSearchAttributeKey('EkmState', SearchAttributeType.KEYWORD);

/** Name -> type as `temporal server start-dev --search-attribute` and `operator search-attribute create` spell it. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword'> = {
  [EkmCluster.name]: 'Keyword',
  [EkmRunbook.name]: 'Keyword',
  [EkmStep.name]: 'Keyword',
  [EkmState.name]: 'Keyword',
};
