/**
 * The console's forms -> the runbook contract's messages, checked with the contract's own schemas
 * (the ones the runbooks' validators use), so a malformed form is refused naming the form's field,
 * in the same words as the CLI, and nothing is sent. Certificates pasted or uploaded go through the
 * CLI's certificate reader (PEM, DER, PKCS#7; size limit; no private keys).
 */
import { answerUpdate, changeField, type ChangeField, type OperatorAnswer, type RunbookProgress } from '../../workflows/contract';
import { describeIssues } from '../../workflows/inputs';
import { readCertificateText } from '../cli/certificate-files';
import { CertificateInputError, CERTIFICATE_INPUT_LIMIT_BYTES } from '../pki/certificate-input';
import { ConsoleProblem } from './temporal-access';

/** The largest file one upload field may carry: the certificate input limit (64 KiB). */
export const UPLOAD_LIMIT_BYTES = CERTIFICATE_INPUT_LIMIT_BYTES;

/** A parsed form: text fields are strings, uploaded files Buffers (empty when none was chosen). */
export type FormBody = Record<string, string | Buffer | (string | Buffer)[] | undefined>;

/** A text field, trimmed; absent or blank -> undefined. Several values (a repeated field) are refused. */
export function textField(body: FormBody, name: string, label = name): string | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value) || Buffer.isBuffer(value)) throw new ConsoleProblem(400, `${label}: expected one text value`);
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/** An uploaded file's bytes, or undefined when none was chosen. */
export function fileField(body: FormBody, name: string): Buffer | undefined {
  const value = body[name];
  return Buffer.isBuffer(value) && value.length > 0 ? value : undefined;
}

/**
 * A certificate given pasted (`textName`) or uploaded (`fileName`) -> clean PEM of every
 * certificate in it; both given, neither or a bad one is refused naming `label`.
 */
export function certificateField(
  body: FormBody,
  textName: string,
  fileName: string,
  label: string,
  required = true,
): { pem: string; notes: string[] } | undefined {
  const text = textField(body, textName, label);
  const file = fileField(body, fileName);
  if (text !== undefined && file !== undefined)
    throw new ConsoleProblem(400, `${label}: paste it or upload a file, not both`);
  const data = text ?? file;
  if (data === undefined) {
    if (required) throw new ConsoleProblem(400, `${label}: paste the certificate or upload its file`);
    return undefined;
  }
  try {
    return readCertificateText(data, label);
  } catch (err) {
    if (err instanceof CertificateInputError) throw new ConsoleProblem(400, err.message);
    throw err;
  }
}

/** The form field label for each field of an answer (what the page shows next to the input). */
const ANSWER_LABELS: Record<string, string> = {
  '': '',
  reason: 'Reason',
  extendBy: 'Extend by',
  hostnames: 'Key server host names',
  port: 'Port',
  kmipCaCertificate: 'KMIP CA certificate',
  'clientCertificate.certificatePem': 'Client certificate',
  'clientCertificate.caChainPem': 'Client certificate CA',
  clientCertificate: 'Client certificate',
  driveIDs: 'Drive ids',
  confirmUnprotected: 'Cluster name to confirm',
  comment: 'Comment',
  by: 'User',
};

/** What each field of a `change` answer is called on the form. */
export const CHANGE_LABELS: Record<ChangeField, string> = {
  hostnames: 'Key server host names',
  port: 'Port',
  kmipCaCertificate: 'KMIP CA certificate',
  clientCertificate: 'Client certificate with its CA',
  driveIDs: 'Drive ids',
};

/** The form inputs that carry each field of a `change` answer. */
const CHANGE_INPUTS: Record<ChangeField, string[]> = {
  hostnames: ['hostnames'],
  port: ['port'],
  kmipCaCertificate: ['kmipCaCertificate', 'kmipCaCertificateFile'],
  clientCertificate: ['clientCertificatePem', 'clientCertificateFile', 'clientCaPem', 'clientCaFile'],
  driveIDs: ['driveIDs'],
};

/**
 * The fields a `change` answer may carry at the question now: the question's own list
 * (`waiting.changeFields`), else what the runbook's change applies to (a run asked before
 * questions carried the list: a slice recovery takes drive ids, the key server's questions the rest).
 */
export function changeFieldsOf(progress: Pick<RunbookProgress, 'runbook' | 'waiting'>): ChangeField[] {
  if (progress.waiting?.changeFields) return progress.waiting.changeFields;
  return progress.runbook === 'recover-slice-service' ? ['driveIDs'] : changeField.options.filter((f) => f !== 'driveIDs');
}

function list(text: string | undefined): string[] | undefined {
  return text
    ?.split(/[\s,]+/)
    .map((h) => h.trim())
    .filter(Boolean);
}

/**
 * An answer form -> the answer, recorded with `by` = the signed-in user. Refusals name the form's
 * field; only the fields of the chosen answer are read.
 */
export function answerFromForm(body: FormBody, by: string): OperatorAnswer {
  const action = textField(body, 'action', 'Answer');
  const comment = textField(body, 'comment', 'Comment');
  let raw: Record<string, unknown>;
  switch (action) {
    case 'retry':
    case 'fixed':
    case 'confirm':
    case 'enable-internal':
      raw = { action, by, comment };
      break;
    case 'abort':
      raw = { action, by, reason: textField(body, 'reason', 'Reason') ?? '', confirmUnprotected: textField(body, 'confirmUnprotected') };
      break;
    case 'extend':
      raw = { action, by, comment, extendBy: textField(body, 'extendBy', 'Extend by') ?? '' };
      break;
    case 'change': {
      // The change form carries the inputs of the fields the question accepts (blank when not filled in).
      const offered = changeField.options.filter((f) => CHANGE_INPUTS[f].some((input) => input in body));
      const given = (input: string) => {
        const value = body[input];
        return Buffer.isBuffer(value) ? value.length > 0 : typeof value === 'string' ? value.trim() !== '' : Array.isArray(value);
      };
      const filled = changeField.options.filter((f) => CHANGE_INPUTS[f].some(given));
      if (filled.length === 0)
        throw new ConsoleProblem(
          400,
          offered.length
            ? `change: fill in at least one of ${offered.map((f) => CHANGE_LABELS[f]).join(', ')}; nothing was sent`
            : // A form without the change inputs (a script's): which fields apply is the question's, not every runbook's.
              'change: fill in at least one of the fields the question accepts (its change form on the run page names them); nothing was sent',
        );
      const portText = textField(body, 'port', 'Port');
      const port = portText === undefined ? undefined : Number(portText);
      if (port !== undefined && !Number.isInteger(port)) throw new ConsoleProblem(400, `Port: "${portText}" is not a number`);
      const drives = list(textField(body, 'driveIDs', 'Drive ids'));
      const badDrive = drives?.find((d) => !/^\d+$/.test(d));
      if (badDrive !== undefined) throw new ConsoleProblem(400, `Drive ids: "${badDrive}" is not a drive id (give ids like 12,13)`);
      const clientCert = certificateField(body, 'clientCertificatePem', 'clientCertificateFile', 'Client certificate', false);
      const clientCa = certificateField(body, 'clientCaPem', 'clientCaFile', 'Client certificate CA', false);
      if (Boolean(clientCert) !== Boolean(clientCa))
        throw new ConsoleProblem(400, 'Client certificate and Client certificate CA go together');
      raw = {
        action,
        by,
        comment,
        hostnames: list(textField(body, 'hostnames', 'Key server host names')),
        port,
        kmipCaCertificate: certificateField(body, 'kmipCaCertificate', 'kmipCaCertificateFile', 'KMIP CA certificate', false)?.pem,
        clientCertificate: clientCert && clientCa ? { certificatePem: clientCert.pem, caChainPem: clientCa.pem } : undefined,
        driveIDs: drives?.map(Number),
      };
      break;
    }
    case undefined:
      throw new ConsoleProblem(400, 'Answer: no answer was chosen');
    default:
      throw new ConsoleProblem(400, `Answer: "${action}" is not an answer a runbook takes`);
  }
  const defined = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  const parsed = answerUpdate.argument.safeParse(defined, { reportInput: true });
  if (!parsed.success) throw new ConsoleProblem(400, `${action}: ${describeIssues(parsed.error, ANSWER_LABELS)}`);
  return parsed.data;
}

/** Form fields that are never sent back to the browser, whatever they hold. */
const NEVER_ECHOED = new Set(['_csrf', 'token', 'password']);

/**
 * What was typed into a refused form, to render it again next to the refusal: its text fields
 * (uploaded files cannot be put back into a file input), never the CSRF token or a token, and
 * never a value holding a private key (a certificate input with one is refused for that reason).
 */
export function typedValues(body: FormBody | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(body ?? {})) {
    if (NEVER_ECHOED.has(name) || typeof value !== 'string' || /PRIVATE KEY/.test(value)) continue;
    values[name] = value;
  }
  return values;
}

/** The form inputs that carry an uploaded file, as the page names them (for refusals). */
export const FILE_LABELS: Record<string, string> = {
  certificateFile: 'Signed certificate',
  caChainFile: 'CA chain',
  kmipCaCertificateFile: 'KMIP CA certificate',
  clientCertificateFile: 'Client certificate',
  clientCaFile: 'Client certificate CA',
  setupFile: 'Setup input file',
};
