/**
 * The console's pages as HTML (no I/O here): the runbooks list, a run (steps, timeline, notes,
 * answers, the question and a form per accepted answer, the kmip diagnosis), signing, the
 * report, starting a runbook, the login and error pages. Facts come from the runbook contract
 * (progress, diagnosis), the CLI's certificate verdict and the audit report.
 */
import type { WorkflowExecutionStatusName } from '@temporalio/client';
import {
  riskBanners,
  type AnswerAction,
  type FleetStatus,
  type KmipDiagnosis,
  type RunbookPlan,
  type RunbookProgress,
} from '../../workflows/contract';
import type { FleetSummary } from '../cli/fleet-list';
import { describeCounts } from '../cli/fleet-outcome';
import { WHAT_TO_DO } from '../../workflows/kmip-diagnosis';
import type { CertificateVerdictJson } from '../cli/json-output';
import type { RunSummary } from '../cli/json-output';
import { formatDuration } from '../durations';
import type { RunReport } from '../report/run-report';
import { csrfField, html, raw, type Html } from './html';
import { timelineSvg } from './timeline';
import type { MustOutlive } from '../pki/certificate-checks';
import type { ChangeField } from '../../workflows/contract';
import { CHANGE_LABELS, changeFieldsOf, UPLOAD_LIMIT_BYTES } from './forms';

const limitText = `${UPLOAD_LIMIT_BYTES / 1024} KiB`;

export function ago(since: string, now = Date.now()): string {
  return formatDuration(Math.max(0, now - Date.parse(since)));
}

function stateCell(state: string | undefined): Html {
  return html`<span class="state-${state ?? 'unknown'}">${state ?? 'unknown'}</span>`;
}

// ---------------------------------------------------------------------------------------------
// Login and errors

/** The sign-in form; `csrf` is the value of its LOGIN_CSRF_COOKIE, sent back in the form (double submit). */
export function loginView(csrf: string, problem?: string): Html {
  return html`<h1>Sign in</h1>
    ${problem ? html`<p class="flash error" role="alert">${problem}</p>` : ''}
    <form method="post" action="/login" class="card" autocomplete="off">
      ${csrfField(csrf)}
      <label for="user">User</label><input type="text" id="user" name="user" required /> <label for="token">Token</label
      ><input type="password" id="token" name="token" required />
      <p class="hint">Your token is in the file the console's users file names for you; it is never shown here.</p>
      <button type="submit">Sign in</button>
    </form>`;
}

export function problemView(status: number, message: string, back?: string): Html {
  // A worker that did not answer is not Temporal that did not answer (Temporal was up to say so).
  const heading = /^no worker/.test(message)
    ? 'No worker answered'
    : status === 503 || status === 504
      ? 'Temporal did not answer'
      : 'Not done';
  return html`<h1>${heading}</h1>
    <p class="flash error" role="alert" data-status="${status}">${message}</p>
    ${back ? html`<p><a href="${back}">Back</a></p>` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Runbooks list

export interface ListedRun extends RunSummary {
  /** For a run waiting for a person: since when and for what (from its progress), when it answered. */
  waiting?: { since: string; prompt: string; kind: string };
}

/** Waiting for a person first (longest wait first), then running, then the rest, newest first. */
export function orderRuns(runs: ListedRun[]): ListedRun[] {
  const rank = (r: ListedRun) => (r.state === 'waiting-for-input' ? 0 : r.status === 'RUNNING' ? 1 : 2);
  return [...runs].sort((a, b) => {
    if (rank(a) !== rank(b)) return rank(a) - rank(b);
    if (rank(a) === 0) return Date.parse(a.waiting?.since ?? a.startTime) - Date.parse(b.waiting?.since ?? b.startTime);
    return Date.parse(b.startTime) - Date.parse(a.startTime);
  });
}

export function listView(
  runs: ListedRun[],
  filters: { cluster?: string; runbook?: string; state?: string; all?: boolean },
  options: { runbooks: readonly string[]; states: readonly string[]; now?: number },
): Html {
  const now = options.now ?? Date.now();
  const select = (name: string, values: readonly string[], current?: string) =>
    html`<select name="${name}" id="filter-${name}">
      <option value="">any</option>
      ${values.map((v) => html`<option value="${v}" ${v === current ? raw(' selected') : ''}>${v}</option>`)}
    </select>`;
  const rows = orderRuns(runs).map((r) => {
    const waiting = r.state === 'waiting-for-input';
    return html`<tr
      class="${waiting ? 'waiting' : ''}"
      data-workflow-id="${r.workflowId}"
      data-cluster="${r.cluster}"
      data-state="${r.state ?? r.status.toLowerCase()}"
    >
      <td><a href="/runs/${encodeURIComponent(r.workflowId)}">${r.workflowId}</a></td>
      <td>${r.cluster}</td>
      <td>${r.runbook}</td>
      <td>${stateCell(r.state ?? r.status.toLowerCase())}</td>
      <td>${r.step}</td>
      <td>
        ${
          waiting
            ? r.waiting
              ? html`<strong>waiting ${ago(r.waiting.since, now)}</strong><br /><span class="hint">${r.waiting.prompt}</span>`
              : html`<strong>waiting</strong> <span class="hint">(no worker answered its progress query)</span>`
            : ''
        }
      </td>
      <td title="${r.startTime}">${ago(r.startTime, now)} ago</td>
    </tr>`;
  });
  return html`<h1>Runbooks</h1>
    <form method="get" action="/" class="filters">
      <div>
        <label for="filter-cluster">Cluster</label
        ><input type="text" name="cluster" id="filter-cluster" value="${filters.cluster}" />
      </div>
      <div><label for="filter-runbook">Runbook</label>${select('runbook', options.runbooks, filters.runbook)}</div>
      <div><label for="filter-state">State</label>${select('state', options.states, filters.state)}</div>
      <div>
        <label><input type="checkbox" name="all" value="1" ${filters.all ? raw(' checked') : ''} /> include ended runs</label>
      </div>
      <button type="submit" class="secondary">Filter</button>
    </form>
    <div id="runs" data-live>
      <table>
        <thead>
          <tr>
            <th>Workflow</th>
            <th>Cluster</th>
            <th>Runbook</th>
            <th>State</th>
            <th>Step</th>
            <th>Waiting for a person</th>
            <th>Started</th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length
              ? rows
              : html`<tr>
                  <td colspan="7" class="muted">no runbooks match</td>
                </tr>`
          }
        </tbody>
      </table>
      <p class="hint">Updated ${new Date(now).toISOString()}; this list refreshes itself every 5 s.</p>
    </div>`;
}

// ---------------------------------------------------------------------------------------------
// A run

export interface RunPageData {
  workflowId: string;
  runId: string;
  status: WorkflowExecutionStatusName;
  workflowType: string;
  taskQueue: string;
  progress?: RunbookProgress;
  /** Why the progress is missing (no worker, ...). */
  progressProblem?: string;
  diagnosis?: KmipDiagnosis;
  temporalUiUrl?: string;
  csrf: string;
  /** A refused answer, shown next to its form in the runbook's own words, with what was typed into it (typedValues). */
  refusal?: { action: string; text: string; values?: Record<string, string> };
}

const ANSWER_TITLES: Record<AnswerAction, string> = {
  retry: 'Retry',
  fixed: 'Fixed — re-test now',
  change: 'Change the settings',
  extend: 'Extend the deadline',
  abort: 'Abort',
  confirm: 'Confirm',
  'enable-internal': 'Enable internal keys again',
};

const ANSWER_HINTS: Record<AnswerAction, string> = {
  retry: 'Run the failed step again.',
  fixed: 'You fixed the cause: the runbook re-tests now.',
  change: 'Give what changed; only the fields you fill in are sent.',
  extend: 'Wait longer, e.g. 7d or 12h.',
  abort: 'End the run; the reason is recorded.',
  confirm: 'Accept what the runbook said it will do next.',
  'enable-internal': 'Lock the drives with the cluster’s internal keys again and give up the move.',
};

/** The inputs of a change form: only the fields the question accepts now. */
function changeInputs(accepted: ChangeField[], v: Record<string, string>): Html {
  const inputs: Record<ChangeField, Html> = {
    hostnames: html`<label
      >${CHANGE_LABELS.hostnames}
      <input type="text" name="hostnames" placeholder="kms1.example.com, kms2.example.com" value="${v.hostnames}"
    /></label>`,
    port: html`<label
      >${CHANGE_LABELS.port} <input type="number" name="port" min="1" max="65535" placeholder="5696" value="${v.port}"
    /></label>`,
    kmipCaCertificate: html`<label
        >KMIP CA certificate
        <textarea name="kmipCaCertificate" rows="3" placeholder="-----BEGIN CERTIFICATE-----">
${v.kmipCaCertificate}</textarea
        >
      </label>
      <input type="file" name="kmipCaCertificateFile" aria-label="KMIP CA certificate file" />`,
    clientCertificate: html`<label
        >Client certificate <textarea name="clientCertificatePem" rows="3">
${v.clientCertificatePem}</textarea
        ></label
      >
      <input type="file" name="clientCertificateFile" aria-label="Client certificate file" />
      <label
        >Client certificate CA <textarea name="clientCaPem" rows="3">
${v.clientCaPem}</textarea
        ></label
      >
      <input type="file" name="clientCaFile" aria-label="Client certificate CA file" />`,
    driveIDs: html`<label
      >${CHANGE_LABELS.driveIDs} <input type="text" name="driveIDs" placeholder="12,13" value="${v.driveIDs}"
    /></label>`,
  };
  const files = accepted.includes('kmipCaCertificate') || accepted.includes('clientCertificate');
  return html`${accepted.map((f) => inputs[f])}${files ? html`<p class="hint">Files up to ${limitText} each.</p>` : ''}`;
}

function answerForm(data: RunPageData, action: AnswerAction): Html {
  const p = data.progress!;
  const refused = data.refusal?.action === action;
  const refusal = refused ? html`<p class="refusal" role="alert">${data.refusal!.text}</p>` : '';
  // A refused form is shown again with what was typed into it.
  const v = (refused ? data.refusal!.values : undefined) ?? {};
  const confirm = p.waiting?.abortRequires?.confirmUnprotected;
  let fields: Html;
  switch (action) {
    case 'extend':
      fields = html`<label>Extend by <input type="text" name="extendBy" placeholder="7d" required value="${v.extendBy}" /></label>`;
      break;
    case 'abort':
      fields = html`<label>Reason <input type="text" name="reason" required maxlength="500" value="${v.reason}" /></label>
        ${confirm ? html`<label>Type the cluster's name (${confirm}) to confirm: the drives stay unprotected <input type="text" name="confirmUnprotected" required value="${v.confirmUnprotected}" /></label>` : ''}`;
      break;
    case 'change':
      fields = changeInputs(changeFieldsOf(p), v);
      break;
    default:
      fields = html``;
  }
  const comment = action === 'abort' ? '' : html`<label>Comment <input type="text" name="comment" value="${v.comment}" /></label>`;
  return html`<form
    method="post"
    action="/runs/${encodeURIComponent(data.workflowId)}/answer"
    enctype="multipart/form-data"
    data-answer="${action}"
  >
    ${csrfField(data.csrf)}<input type="hidden" name="action" value="${action}" />
    <h3>${ANSWER_TITLES[action]}</h3>
    <p class="hint">${ANSWER_HINTS[action]}</p>
    ${fields}${comment}${refusal}
    <p>
      <button type="submit" class="${action === 'abort' ? 'danger' : ''}" name="answer" value="${action}">
        ${ANSWER_TITLES[action]}
      </button>
    </p>
  </form>`;
}

function diagnosisView(d: KmipDiagnosis, now: number): Html {
  return html`<section id="diagnosis">
    <h2>Diagnosis (tested ${ago(d.at, now)} ago)</h2>
    <table>
      <thead>
        <tr>
          <th>Key server</th>
          <th>Address</th>
          <th>Result</th>
          <th>What to fix</th>
        </tr>
      </thead>
      <tbody>
        ${d.servers.map(
          (s) =>
            html`<tr data-key-server="${s.keyServerID}">
              <td>${s.name} (${s.keyServerID})</td>
              <td>${s.hostnames.join(', ')}:${s.port}</td>
              <td>
                ${s.ok ? html`<span class="state-completed">passes TestKeyServerKmip</span>` : html`<span class="state-failed">${s.failure}</span>: ${s.errorName} — ${s.error}`}
              </td>
              <td>${s.ok ? '' : WHAT_TO_DO[s.failure ?? 'other']}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p>
      ${d.fault ? html`Fault ${d.fault.clusterFaultID} (${d.faultClass}): ${d.fault.details}` : 'The kmipServerFault is no longer current.'}
    </p>
  </section>`;
}

export function runView(data: RunPageData, now = Date.now()): Html {
  const p = data.progress;
  const id = encodeURIComponent(data.workflowId);
  const links = [
    html`<a href="/runs/${id}/report">Report</a>`,
    data.temporalUiUrl
      ? html`<a href="${data.temporalUiUrl}" target="_blank" rel="noopener" data-temporal-ui>Temporal web UI</a>`
      : '',
    p?.waiting?.kind === 'signed-certificate'
      ? html`<a href="/runs/${id}/sign"><strong>Sign: hand over the certificate</strong></a>`
      : '',
    (p?.waiting?.csrPem ?? p?.csrPem) ? html`<a href="/runs/${id}/csr" download>Download the CSR</a>` : '',
  ];
  const head = html`<div id="run-head" data-live>
    <h1>${p ? html`${p.runbook} on cluster ${p.cluster}: ${stateCell(p.state)}` : data.workflowId}</h1>
    <p class="muted">${data.workflowId} · run ${data.runId} · Temporal status ${data.status} · task queue ${data.taskQueue}</p>
    <p class="row-links">${links.map((l) => html`${l} `)}</p>
  </div>`;
  if (!p)
    return html`${head}
      <p class="flash error" role="alert">${data.progressProblem ?? 'no progress'}</p>`;
  const elapsed = formatDuration((p.endedAt ? Date.parse(p.endedAt) : now) - Date.parse(p.startedAt));
  const w = p.waiting;
  const question = w
    ? html`<section class="question" id="question">
        <h2>
          ${w.kind === 'signed-certificate' ? 'Waiting for the signed certificate' : w.kind === 'cluster-lock' ? 'Waiting for the cluster lock' : 'Waiting for a person'}
          — ${ago(w.since, now)}
        </h2>
        <p><strong>${w.prompt}</strong></p>
        ${w.problem ? html`<p>Problem: ${w.problem}</p>` : ''}
        ${w.deadline ? html`<p>Deadline: ${w.deadline} (${Date.parse(w.deadline) > now ? `in ${formatDuration(Date.parse(w.deadline) - now)}` : 'passed'})</p>` : ''}
        ${w.kind === 'signed-certificate' ? html`<p><a href="/runs/${id}/sign">Go to signing: download the CSR, check and submit the certificate</a></p>` : ''}
        ${w.answers.length ? html`<div class="answers">${w.answers.map((a) => answerForm(data, a))}</div>` : ''}
        ${data.refusal && !w.answers.includes(data.refusal.action as AnswerAction) ? html`<p class="refusal" role="alert">${data.refusal.text}</p>` : ''}
      </section>`
    : data.refusal
      ? html`<p class="refusal" role="alert">${data.refusal.text}</p>`
      : '';
  return html`${head}
    <div id="run" data-live>
      ${riskBanners(p).map((banner) => html`<p class="banner">${banner}</p>`)}
      <p id="run-state">
        State: ${stateCell(p.state)}${p.currentStep ? ` at step ${p.currentStep}` : ''} · started ${p.startedAt} ·
        ${p.endedAt ? `ended ${p.endedAt}` : 'running'} · ${elapsed}
      </p>
      ${p.error ? html`<p class="flash error">Error: ${p.error}</p>` : ''} ${question}
      ${data.diagnosis ? diagnosisView(data.diagnosis, now) : ''}
      <h2>Timeline</h2>
      ${raw(timelineSvg({ steps: p.steps, answers: p.answers, waiting: w, startedAt: p.startedAt, endedAt: p.endedAt }, now))}
      <h2>Steps</h2>
      <table id="steps">
        <thead>
          <tr>
            <th>Step</th>
            <th>State</th>
            <th>Tries</th>
            <th>Time</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          ${p.steps.map((s) => {
            const time = s.startedAt ? formatDuration((s.endedAt ? Date.parse(s.endedAt) : now) - Date.parse(s.startedAt)) : '';
            const detail =
              s.state === 'failed' || (s.lastError && s.state !== 'done') ? (s.lastError ?? '') : (s.detail ?? s.title);
            return html`<tr data-step="${s.id}">
              <td>${s.id}</td>
              <td>${stateCell(s.state)}</td>
              <td>${s.attempts}</td>
              <td>${time}</td>
              <td>${detail}</td>
            </tr>`;
          })}
        </tbody>
      </table>
      <h2>Answers given</h2>
      ${
        p.answers.length
          ? html`<table id="answers">
              <thead>
                <tr>
                  <th>When</th>
                  <th>Step</th>
                  <th>Answer</th>
                  <th>By</th>
                  <th>Outcome</th>
                  <th>Comment</th>
                </tr>
              </thead>
              <tbody>
                ${p.answers.map(
                  (a) =>
                    html`<tr>
                      <td>${a.at}</td>
                      <td>${a.step}</td>
                      <td>${a.action}</td>
                      <td>${a.by}</td>
                      <td>${a.outcome}</td>
                      <td>${a.comment}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : html`<p class="muted">None yet.</p>`
      }
      <h2>Notes</h2>
      ${
        p.notes.length
          ? html`<ul>
              ${p.notes.map((n) => html`<li>${n}</li>`)}
            </ul>`
          : html`<p class="muted">None.</p>`
      }
    </div>`;
}

// ---------------------------------------------------------------------------------------------
// Signing

const WAITING_WORDS: Record<string, string> = {
  'signed-certificate': 'waiting for its signed certificate',
  'operator-decision': 'waiting for a decision',
  'cluster-lock': 'waiting for the cluster lock',
};

/** What a run waits for, in words (its `waiting.kind` worded, then its prompt). */
export function waitingText(kind: string, prompt: string): string {
  return `${WAITING_WORDS[kind] ?? `waiting (${kind})`}: ${prompt}`;
}

/** The file name a cluster's CSR downloads as (`<cluster>.csr`). */
export function csrFileName(cluster: string): string {
  return `${cluster.replace(/[^A-Za-z0-9._-]/g, '_')}.csr`;
}

export interface SignPageData {
  workflowId: string;
  /** The run's cluster (its CSR downloads as `<cluster>.csr`). */
  cluster?: string;
  csrPem?: string;
  /** Why there is no CSR (a run that makes none, or not yet). */
  noCsr?: string;
  waitingForCertificate: boolean;
  /** A renewal: the certificate must be valid longer than this one (the runbook's own check). */
  mustOutlive?: MustOutlive;
  csrf: string;
  verdict?: CertificateVerdictJson;
  /** The inputs as they will be sent (clean PEM), carried to the submit form once the verdict accepts them. */
  accepted?: { certificatePem: string; caChainPem?: string };
  problem?: string;
  result?: string;
  /** What was pasted into the check form (typedValues), shown again with its verdict or refusal. */
  values?: Record<string, string>;
}

function verdictView(v: CertificateVerdictJson): Html {
  const c = v.certificate;
  return html`<section class="card verdict ${v.accepted ? 'accepted' : 'refused'}" id="verdict">
    <h2>
      ${v.accepted ? 'Verdict: would be accepted' : `Verdict: refused (${v.problems.length} problem${v.problems.length === 1 ? '' : 's'})`}
    </h2>
    ${
      v.problems.length
        ? html`<ul class="problems">
            ${v.problems.map((p) => html`<li>${p}</li>`)}
          </ul>`
        : ''
    }
    ${c ? html`<p>Certificate: ${c.subject}, issued by ${c.issuer}, valid ${c.notBefore} to ${c.notAfter}<br />SHA-256 <code>${c.fingerprint}</code></p>` : ''}
    <p>CSR: ${v.csr.subject}</p>
    ${
      v.chain.length
        ? html`<p>Chain:</p>
            <ul>
              ${v.chain.map((l) => html`<li>${l.from}: ${l.subject}${l.selfSigned ? ' (self-signed root)' : ''}, valid until ${l.notAfter}</li>`)}
            </ul>`
        : ''
    }
    ${
      v.notes.length
        ? html`<p>Notes:</p>
            <ul>
              ${v.notes.map((n) => html`<li>${n}</li>`)}
            </ul>`
        : ''
    }
    ${v.waitUntil ? html`<p>The runbook will wait until ${v.waitUntil} (the certificate's notBefore) before installing it.</p>` : ''}
  </section>`;
}

export function signView(d: SignPageData): Html {
  const id = encodeURIComponent(d.workflowId);
  return html`<h1>Signing for ${d.workflowId}</h1>
    <p><a href="/runs/${id}">Back to the run</a></p>
    ${d.problem ? html`<p class="flash error" role="alert">${d.problem}</p>` : ''}
    ${d.result ? html`<p class="flash ok" role="status" id="result">${d.result}</p>` : ''}
    ${!d.waitingForCertificate && !d.result ? html`<p class="flash error">This run is not waiting for a signed certificate now; a submission would be refused.</p>` : ''}
    <div class="row">
      <section>
        <h2>1. The cluster's CSR</h2>
        ${
          d.csrPem
            ? html`<textarea id="csr" readonly rows="12">${d.csrPem}</textarea>
                <p>
                  <a href="/runs/${id}/csr" download id="csr-download">Download ${csrFileName(d.cluster ?? 'cluster')}</a>
                  <button type="button" class="secondary" data-copy="csr" hidden>Copy</button>
                </p>
                <p class="hint">Have your CA sign it as a TLS client certificate; keep the subject.</p>`
            : html`<p class="muted" id="no-csr">${d.noCsr ?? 'No CSR yet.'}</p>`
        }
      </section>
      <section>
        <h2>2. The signed certificate and its CA chain</h2>
        <form method="post" action="/runs/${id}/sign/check" enctype="multipart/form-data" id="check-form">
          ${csrfField(d.csrf)}
          <label for="certificatePem">Signed certificate (PEM, DER or PKCS#7; may hold its chain)</label>
          <textarea name="certificatePem" id="certificatePem" rows="6" placeholder="-----BEGIN CERTIFICATE-----">
${d.values?.certificatePem}</textarea
          >
          <label for="certificateFile">or upload it</label><input type="file" name="certificateFile" id="certificateFile" />
          <label for="caChainPem">CA certificate(s) that issued it (leave empty when the certificate above holds its chain)</label>
          <textarea name="caChainPem" id="caChainPem" rows="6" placeholder="-----BEGIN CERTIFICATE-----">
${d.values?.caChainPem}</textarea
          >
          <label for="caChainFile">or upload it</label><input type="file" name="caChainFile" id="caChainFile" />
          <p class="hint">
            Files up to ${limitText} each. Checking sends nothing to the runbook: it runs the checks a submission gets (as
            <code>ekm cert check</code>).
          </p>
          <button type="submit" id="check">Check</button>
        </form>
      </section>
    </div>
    ${d.verdict ? verdictView(d.verdict) : ''}
    ${
      d.accepted && d.waitingForCertificate
        ? html`<form method="post" action="/runs/${id}/sign/submit" enctype="multipart/form-data" id="submit-form" class="card">
            ${csrfField(d.csrf)}
            <input type="hidden" name="certificatePem" value="${d.accepted.certificatePem}" />
            ${d.accepted.caChainPem ? html`<input type="hidden" name="caChainPem" value="${d.accepted.caChainPem}" />` : ''}
            <h2>3. Submit</h2>
            <p>Hand this certificate to the runbook, which installs it and tests the key server.</p>
            <button type="submit" id="submit">Submit to the runbook</button>
          </form>`
        : ''
    }`;
}

// ---------------------------------------------------------------------------------------------
// Report

export function reportView(r: RunReport): Html {
  const id = encodeURIComponent(r.workflowId);
  return html`<h1>Report: ${r.runbook ?? r.workflowType} on cluster ${r.cluster ?? '?'}</h1>
    <p>
      <a href="/runs/${id}">Back to the run</a> · <a href="/runs/${id}/report.md?run=${r.runId}" download>Markdown</a> ·
      <a href="/runs/${id}/report.json?run=${r.runId}" download>JSON</a>
    </p>
    ${r.gaps.some((g) => g.startsWith('progress:')) ? html`<p class="flash error" role="alert">This report is incomplete: ${r.gaps.find((g) => g.startsWith('progress:'))!.replace(/^progress: /, '')}</p>` : ''}
    <table id="summary">
      <tbody>
        <tr>
          <th>Workflow</th>
          <td>
            ${r.workflowId}, run ${r.runId}${r.runIds.length > 1 ? ` (${r.runIds.length} executions, continued as new)` : ''}
          </td>
        </tr>
        ${r.otherRuns.length > 0
          ? html`<tr>
              <th>Other runs of this workflow id</th>
              <td>
                ${r.otherRuns.map((o) => html`<a href="/runs/${id}/report?run=${encodeURIComponent(o.runId)}">${o.startedAt}</a> `)}
              </td>
            </tr>`
          : ''}
        <tr>
          <th>Status</th>
          <td>${r.status}${r.state ? ` (${r.state})` : ''}</td>
        </tr>
        <tr>
          <th>Started</th>
          <td>${r.startedAt}</td>
        </tr>
        <tr>
          <th>Ended</th>
          <td>${r.closedAt ?? 'still running'}</td>
        </tr>
        <tr>
          <th>Duration</th>
          <td>${formatDuration(r.durationMs)}</td>
        </tr>
        <tr>
          <th>Element calls</th>
          <td>${r.elementCalls?.total ?? 'not recorded'}</td>
        </tr>
        <tr>
          <th>Generated</th>
          <td>${r.generatedAt}</td>
        </tr>
      </tbody>
    </table>
    ${r.error ? html`<p class="flash error">Error: ${r.error}</p>` : ''}
    <h2>Timeline</h2>
    ${raw(timelineSvg({ steps: r.steps, answers: r.answers, startedAt: r.startedAt, endedAt: r.closedAt }, Date.parse(r.generatedAt)))}
    <h2>Steps</h2>
    <table>
      <thead>
        <tr>
          <th>Step</th>
          <th>State</th>
          <th>Attempts</th>
          <th>Started</th>
          <th>Ended</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>
        ${r.steps.map(
          (s) =>
            html`<tr>
              <td>${s.id}</td>
              <td>${stateCell(s.state)}</td>
              <td>${s.attempts}</td>
              <td>${s.startedAt}</td>
              <td>${s.endedAt}</td>
              <td>${s.lastError && s.state !== 'done' ? s.lastError : (s.detail ?? s.title)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Operator answers</h2>
    ${
      r.answers.length
        ? html`<table>
            <thead>
              <tr>
                <th>Time</th>
                <th>Step</th>
                <th>Answer</th>
                <th>By</th>
                <th>Outcome</th>
                <th>Comment</th>
              </tr>
            </thead>
            <tbody>
              ${r.answers.map(
                (a) =>
                  html`<tr>
                    <td>${a.at}</td>
                    <td>${a.step}</td>
                    <td>${a.action}</td>
                    <td>${a.by}</td>
                    <td>${a.outcome}</td>
                    <td>${a.comment}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p class="muted">None.</p>`
    }
    <h2>Activities (from Temporal history)</h2>
    <table>
      <thead>
        <tr>
          <th>Scheduled</th>
          <th>Activity</th>
          <th>Attempts</th>
          <th>Outcome</th>
          <th>Failure</th>
        </tr>
      </thead>
      <tbody>
        ${r.activities.map(
          (a) =>
            html`<tr>
              <td>${a.scheduledAt}</td>
              <td>${a.activityType}</td>
              <td>${a.attempts}</td>
              <td>${a.outcome}</td>
              <td>${a.failure}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Element API calls</h2>
    ${
      r.elementCalls
        ? html`<table>
            <thead>
              <tr>
                <th>Method</th>
                <th>OK</th>
                <th>Error</th>
              </tr>
            </thead>
            <tbody>
              ${Object.entries(r.elementCalls.byMethod).map(
                ([m, c]) =>
                  html`<tr>
                    <td>${m}</td>
                    <td>${c.ok}</td>
                    <td>${c.error}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p class="muted">Not recorded (no audit log).</p>`
    }
    ${
      r.notes.length
        ? html`<h2>Notes</h2>
            <ul>
              ${r.notes.map((n) => html`<li>${n}</li>`)}
            </ul>`
        : ''
    }
    ${
      r.gaps.length
        ? html`<h2>Gaps</h2>
            <ul>
              ${r.gaps.map((g) => html`<li>${g}</li>`)}
            </ul>`
        : ''
    }`;
}

// ---------------------------------------------------------------------------------------------
// Start

export const STARTABLE = ['rekey', 'recover-kmip-server-fault', 'renew', 'setup'] as const;
export type Startable = (typeof STARTABLE)[number];

export interface StartPageData {
  csrf: string;
  clusters: string[];
  clustersProblem?: string;
  problem?: string;
  /** What was chosen and typed into a refused start form (typedValues), shown again with the refusal. */
  values?: Record<string, string>;
  /** The setup input file a refused upload named (a file input cannot be filled in again). */
  setupFileName?: string;
  /** The reviewed start: what will be sent, waiting for the confirmation. */
  review?: {
    runbook: Startable;
    cluster: string;
    input: unknown;
    inputJson: string;
    /** The input's signature (signReviewedStart): only given with a plan whose precheck lets it start. */
    inputSig?: string;
    plan?: RunbookPlan;
    planProblem?: string;
  };
}

const PLAN_ACTION_CLASS: Record<string, string> = { refuse: 'state-failed', skip: 'muted', maybe: 'state-waiting-for-input' };

/** The plan document (src/plan): what the run would do on the cluster as it is now. */
function planView(plan: RunbookPlan): Html {
  return html`<section id="plan" class="card">
    <h2>The runbook's plan (the cluster as read at ${plan.readAt})</h2>
    ${
      plan.couldStart
        ? html`<p class="state-completed">
            The precheck would let it start${plan.takesLock ? '; it takes the cluster lock' : ''}.
          </p>`
        : html`<div class="refusal" role="alert">
            <strong>The precheck would refuse:</strong>
            <ul>
              ${plan.refusals.map((r) => html`<li>${r.type}: ${r.message}${r.retryable ? ' (retried a while first)' : ''}</li>`)}
            </ul>
          </div>`
    }
    ${
      plan.facts.length
        ? html`<p>What the plan found (the cluster, and Temporal for runs and its lock):</p>
            <ul>
              ${plan.facts.map((f) => html`<li>${f}</li>`)}
            </ul>`
        : ''
    }
    ${plan.window ? html`<p class="banner">Window (${plan.window.kind}, from ${plan.window.opensAt} to ${plan.window.closesAt}): ${plan.window.description}</p>` : ''}
    <table>
      <thead>
        <tr>
          <th>Step</th>
          <th>Action</th>
          <th>What</th>
          <th>Element calls</th>
          <th>Waits and questions</th>
        </tr>
      </thead>
      <tbody>
        ${plan.steps.map(
          (s) =>
            html`<tr data-plan-step="${s.id}">
              <td>${s.id}</td>
              <td class="${PLAN_ACTION_CLASS[s.action] ?? ''}">
                ${s.action}${s.fields?.length ? ` (${s.fields.join(', ')})` : ''}
              </td>
              <td>${s.detail}${s.why && !s.detail.includes(s.why) ? html`<br /><span class="hint">${s.why}</span>` : ''}</td>
              <td>
                ${s.calls.map((c) => html`<code>${c.method}</code> <span class="hint">${c.effect}${c.when ? `, ${c.when}` : ''}</span><br />`)}
              </td>
              <td>
                ${s.waits.map((w) => html`${w.what}${w.forMs !== undefined ? ` up to ${formatDuration(w.forMs)}` : ''}${w.everyMs !== undefined ? `, every ${formatDuration(w.everyMs)}` : ''}<br />`)}${s.asks.map((a) => html`asks: ${a.when} (${a.answers.join(', ')})<br />`)}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p class="hint">Read with ${plan.readWith.join(', ') || 'nothing'} (reads only); nothing was changed.</p>
  </section>`;
}

export function startView(d: StartPageData): Html {
  if (d.review) {
    const r = d.review;
    return html`<h1>Start ${r.runbook} on ${r.cluster}?</h1>
      ${d.problem ? html`<p class="flash error" role="alert">${d.problem}</p>` : ''}
      ${r.plan ? planView(r.plan) : html`<p class="flash error" id="no-plan">${r.planProblem ?? 'No plan.'}</p>`}
      <h2>Input</h2>
      <pre id="input">${JSON.stringify(r.input, null, 2)}</pre>
      ${
        r.inputSig
          ? html`<form method="post" action="/start/go" enctype="multipart/form-data" class="card">
              ${csrfField(d.csrf)}<input type="hidden" name="runbook" value="${r.runbook}" /><input
                type="hidden"
                name="input"
                value="${r.inputJson}"
              /><input type="hidden" name="inputSig" value="${r.inputSig}" />
              <label
                ><input type="checkbox" name="confirm" value="yes" required /> I confirm: start ${r.runbook} on cluster
                ${r.cluster}</label
              >
              <p><button type="submit" id="start">Start</button> <a href="/start">Change</a></p>
            </form>`
          : html`<p class="card" id="no-start">
              Start is not offered:
              ${r.plan && !r.plan.couldStart
                ? 'the precheck would refuse (above).'
                : 'the plan is not shown (above: why), and nothing starts without the plan reviewed.'}
              Fix what it says, then <a href="/start">review it again</a>.
            </p>`
      }`;
  }
  const v = d.values ?? {};
  const setupRefused = v.runbook === 'setup';
  const option = (value: string, current: string | undefined, text: string, byDefault = false) =>
    html`<option value="${value}" ${value === current || (current === undefined && byDefault) ? raw(' selected') : ''}>${text}</option>`;
  const checked = (on: boolean) => (on ? raw(' checked') : '');
  const clusterInput = (id: string) =>
    d.clusters.length
      ? html`<select name="cluster" id="${id}">
          ${d.clusters.map((c) => option(c, v.cluster, c))}
        </select>`
      : html`<input type="text" name="cluster" id="${id}" required value="${v.cluster}" />`;
  const problem = d.problem ? html`<p class="flash error" role="alert">${d.problem}</p>` : '';
  return html`<h1>Start a runbook</h1>
    ${d.clustersProblem ? html`<p class="flash error">${d.clustersProblem}</p>` : ''}
    <form method="post" action="/start/review" enctype="multipart/form-data" class="card" id="start-form">
      ${csrfField(d.csrf)} ${setupRefused ? '' : problem}
      <label for="runbook">Runbook</label>
      <select name="runbook" id="runbook">
        ${option('rekey', v.runbook, 'rekey — a new master key', true)}
        ${option('recover-kmip-server-fault', v.runbook, 'recover-kmip-server-fault — diagnose and recover a kmipServerFault')}
        ${option('renew', v.runbook, 'renew — a new client certificate for the key server')}
      </select>
      <label for="cluster">Cluster</label>
      ${clusterInput('cluster')}
      <fieldset>
        <legend>rekey</legend>
        <label
          ><input type="radio" name="keyManagement" value="external" ${checked(v.keyManagement !== 'internal')} /> external (the
          key provider)</label
        >
        <label
          ><input type="radio" name="keyManagement" value="internal" ${checked(v.keyManagement === 'internal')} />
          internal</label
        >
      </fieldset>
      <fieldset>
        <legend>renew</legend>
        <label for="signer">Signer</label>
        <select name="signer" id="signer">
          ${option('manual', v.signer, 'manual (you hand over the certificate here)', true)} ${option('cfssl', v.signer, 'cfssl')}
        </select>
        <label for="cfsslUrl">cfssl URL</label><input type="text" name="cfsslUrl" id="cfsslUrl" value="${v.cfsslUrl}" />
        <label
          ><input type="checkbox" name="newKeyPair" value="yes" ${checked(v.newKeyPair === 'yes')} /> also a new key pair (the
          runbook asks to confirm the window)</label
        >
      </fieldset>
      <label
        ><input type="checkbox" name="ifBusy" value="wait" ${checked(v.ifBusy === 'wait')} /> queue behind another runbook
        changing the cluster (instead of refusing)</label
      >
      <p><button type="submit" id="review">Review</button></p>
    </form>
    <h2>Setup from an input file</h2>
    <form method="post" action="/start/review" enctype="multipart/form-data" class="card" id="setup-form">
      ${csrfField(d.csrf)}<input type="hidden" name="runbook" value="setup" /> ${setupRefused ? problem : ''}
      <p class="hint">
        The file <code>ekm setup --input</code> takes (YAML or JSON, up to ${limitText}): subject, keyProviderName,
        keyServerName, hostnames, port, kmipCaCertificate (the PEM text itself: an uploaded file cannot name another
        file), mode, signer (manual: the Signing page takes the certificate; cfssl with its url; command with a signer of
        the clusters file) and the rest. The runbook's plan comes first, then a confirmation.
      </p>
      <label for="setup-cluster">Cluster</label>
      ${clusterInput('setup-cluster')}
      <label for="setupFile">Setup input file${setupRefused && d.setupFileName ? html` (was ${d.setupFileName}: choose it again)` : ''}</label>
      <input type="file" name="setupFile" id="setupFile" accept=".yaml,.yml,.json" required />
      <label
        ><input type="checkbox" name="ifBusy" value="wait" ${checked(setupRefused && v.ifBusy === 'wait')} /> queue behind
        another runbook changing the cluster (instead of refusing)</label
      >
      <p><button type="submit" id="review-setup">Review the setup</button></p>
    </form>`;
}

// ---------------------------------------------------------------------------------------------
// Fleets

export function fleetListView(fleets: FleetSummary[], all: boolean, now = Date.now()): Html {
  return html`<h1>Fleets</h1>
    <p>${all ? html`<a href="/fleets">Running only</a>` : html`<a href="/fleets?all=1">Include ended fleets</a>`}</p>
    <div id="fleets" data-live>
      <table>
        <thead>
          <tr>
            <th>Fleet</th>
            <th>Runbook</th>
            <th>Outcome</th>
            <th>Clusters</th>
            <th>Started</th>
            <th>Ended</th>
          </tr>
        </thead>
        <tbody>
          ${
            fleets.length
              ? fleets.map(
                  (f) =>
                    html`<tr data-fleet="${f.workflowId}">
                      <td><a href="/fleets/${encodeURIComponent(f.workflowId)}">${f.workflowId}</a></td>
                      <td>${f.runbook}</td>
                      <td class="outcome" title="Temporal: ${f.status}">${f.outcome ?? f.status.toLowerCase()}</td>
                      <td>${f.clusters ? describeCounts(f.clusters) : ''}</td>
                      <td title="${f.startTime}">${ago(f.startTime, now)} ago</td>
                      <td>${f.closeTime}</td>
                    </tr>`,
                )
              : html`<tr>
                  <td colspan="6" class="muted">no fleets ${all ? '' : 'running'}</td>
                </tr>`
          }
        </tbody>
      </table>
    </div>`;
}

/** A fleet run: its progress and one row per cluster, each linking to its run (from the fleet's status query). */
/**
 * A fleet's page. `waiting`: cluster -> what its runbook waits for (`kind: prompt`), from the
 * running children's progress queries; those rows read waiting-for-input instead of running.
 */
export function fleetView(
  workflowId: string,
  status: FleetStatus | undefined,
  problem: string | undefined,
  now = Date.now(),
  waiting: ReadonlyMap<string, string> = new Map(),
): Html {
  if (!status)
    return html`<h1>${workflowId}</h1>
      <p class="flash error" role="alert">${problem ?? 'no status'}</p>`;
  const total = status.clusters.length;
  const count = (state: string) => status.clusters.filter((c) => c.state === state).length;
  const ended = count('completed') + count('failed') + count('cancelled');
  return html`<h1>Fleet ${status.runbook} over ${total} cluster${total === 1 ? '' : 's'}: ${stateCell(status.state)}</h1>
    <p class="muted">
      ${workflowId} · selector ${status.selector} · started
      ${status.startedAt}${status.endedAt ? ` · ended ${status.endedAt}` : ''}
    </p>
    <div id="fleet" data-live>
      <p>
        <progress max="${total}" value="${ended}"></progress> ${ended} of ${total} ended: ${count('completed')} completed,
        ${count('failed')} failed (budget ${status.maxErrors}), ${count('cancelled')} cancelled;
        ${count('running') + count('attached') - waiting.size} running, ${waiting.size} waiting for a person (at most
        ${status.maxConcurrency} at once), ${count('not-started')} not started
      </p>
      <table id="fleet-clusters">
        <thead>
          <tr>
            <th>Cluster</th>
            <th>State</th>
            <th>Run</th>
            <th>Started</th>
            <th>Time</th>
            <th>Waiting for / error</th>
          </tr>
        </thead>
        <tbody>
          ${status.clusters.map(
            (c) =>
              html`<tr data-cluster="${c.cluster}">
                <td>${c.cluster}</td>
                <td>${stateCell(waiting.has(c.cluster) ? 'waiting-for-input' : c.state)}</td>
                <td>
                  ${c.state === 'not-started' ? c.workflowId : html`<a href="/runs/${encodeURIComponent(c.workflowId)}">${c.workflowId}</a>`}
                </td>
                <td>${c.startedAt}</td>
                <td>${c.startedAt ? formatDuration((c.endedAt ? Date.parse(c.endedAt) : now) - Date.parse(c.startedAt)) : ''}</td>
                <td>${c.error ? `${c.error.name}: ${c.error.message}` : (waiting.get(c.cluster) ?? '')}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${
        status.notes.length
          ? html`<h2>Notes</h2>
              <ul>
                ${status.notes.map((n) => html`<li>${n}</li>`)}
              </ul>`
          : ''
      }
    </div>`;
}
