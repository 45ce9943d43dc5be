/**
 * Custom search attributes every runbook sets, so `ekm list` can filter by cluster, runbook and
 * step. The dev server is started with these; a production namespace needs them registered once
 * (`temporal operator search-attribute create`). Workflow-safe: plain data.
 */
export const SEARCH_ATTRIBUTES = {
  EkmCluster: 'Keyword',
  EkmRunbook: 'Keyword',
  EkmStep: 'Keyword',
  EkmWaitingFor: 'Keyword',
} as const;
