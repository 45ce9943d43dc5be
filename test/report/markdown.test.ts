import { markdownText, renderRunReportMarkdown, type RunReport } from '../../src/report/run-report';

const hostile = 'a | b | <img src=x onerror=alert(1)> [link](http://evil.example) **bold** `code`\nnext line';

function report(overrides: Partial<RunReport> = {}): RunReport {
  return {
    generatedAt: '2026-01-01T00:00:00.000Z',
    workflowId: 'ekm-recover-kmip-demo',
    runId: 'run-1',
    runIds: ['run-1'],
    otherRuns: [],
    workflowType: 'recoverKmipServerFault',
    runbook: 'recover-kmip-server-fault',
    cluster: 'demo',
    status: 'FAILED',
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 1000,
    steps: [{ id: 'wait-for-fix', title: 'Wait', state: 'failed', attempts: 1, lastError: hostile }],
    answers: [{ at: '2026-01-01T00:00:01.000Z', step: 'wait-for-fix', action: 'abort', by: '<b>mallory</b>', outcome: 'accepted', comment: hostile }],
    notes: [hostile],
    error: hostile,
    activities: [],
    elementCalls: null,
    gaps: [],
    ...overrides,
  };
}

describe('report.md: free text renders as the literal text', () => {
  it('escapes HTML, Markdown punctuation, links and line breaks in comments, reasons, names and errors', () => {
    const md = renderRunReportMarkdown(report());
    expect(md).not.toMatch(/<[a-z]/i);
    expect(md).not.toContain('](');
    expect(md).not.toContain('http://');
    expect(md).toContain('&lt;img src=x onerror=alert\\(1\\)&gt;');
    expect(md).toContain('&lt;b&gt;mallory&lt;/b&gt;');
    // The answer's row keeps its six cells: the comment's pipes are escaped, its newline is a space.
    const row = md.split('\n').find((l) => l.includes('| abort |'))!;
    expect(row.split(/(?<!\\)\|/).length - 2).toBe(6);
    expect(row).toContain('a \\| b \\|');
    expect(md).not.toMatch(/^next line/m);
    expect(md).toContain('**Error:** a \\| b');
    expect(md).toContain('\\*\\*bold\\*\\* \\`code\\`');
  });

  it('leaves plain words as they are', () => {
    expect(markdownText('firewall opened on kms1.example.com, port 5696')).toBe('firewall opened on kms1.example.com, port 5696');
  });

  it('names the other runs of the workflow id and how to report one', () => {
    const md = renderRunReportMarkdown(report({ otherRuns: [{ runId: 'run-0', startedAt: '2025-12-31T00:00:00.000Z' }] }));
    expect(md).toContain('## Other runs of this workflow id');
    expect(md).toContain('- run-0, started 2025-12-31T00:00:00.000Z');
    expect(md).toContain('--run-id');
  });
});
