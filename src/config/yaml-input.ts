import YAML, { type ErrorCode, type YAMLError } from 'yaml';

/** A YAML or JSON file an operator wrote that cannot be read; the message names the file. */
export class InputTextProblem extends Error {
  constructor(
    readonly label: string,
    /** What is wrong, without the label. */
    readonly detail: string,
  ) {
    super(`${label}: ${detail}`);
  }
}

/** What each YAML syntax problem means, in an operator's words (yaml's error codes). */
const YAML_PROBLEMS: Partial<Record<ErrorCode, string>> = {
  BAD_INDENT: 'the indentation does not line up, or a [ or { before it is not closed',
  TAB_AS_INDENT: 'a tab indents this line (indent with spaces)',
  DUPLICATE_KEY: 'this key is given twice',
  MISSING_CHAR: 'a quote or bracket opened here is not closed',
  MULTILINE_IMPLICIT_KEY: 'a key runs over more than one line (a missing colon or closing quote?)',
  BLOCK_AS_IMPLICIT_KEY: 'a key runs over more than one line (a missing colon or closing quote?)',
  UNEXPECTED_TOKEN: 'unexpected text here (a missing colon, dash or quote?)',
  BAD_SCALAR_START: 'a value starts with a character YAML reserves (put the value in quotes)',
  BAD_DQ_ESCAPE: 'a backslash escape in double quotes that YAML does not know (use single quotes)',
  BLOCK_IN_FLOW: 'a block value inside [ ] or { } (write it on one line)',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters',
  NON_STRING_KEY: 'a key that is not a plain name',
  MULTIPLE_ANCHORS: 'more than one anchor (&name) on a value',
  MULTIPLE_TAGS: 'more than one tag (!tag) on a value',
  BAD_DIRECTIVE: 'a % directive YAML does not know',
};

/** "line 3, column 7" of a character offset in `text`. */
function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `line ${before.length}, column ${before[before.length - 1]!.length + 1}`;
}

/** Where a yaml error is, from its character offsets (its own line numbers come only with its message). */
function at(text: string, error: YAMLError): string {
  return lineAndColumn(text, error.pos[0]);
}

function parseJson(text: string, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const offset = /at position (\d+)/.exec((err as Error).message)?.[1];
    const where = offset !== undefined ? lineAndColumn(text, Number(offset)) : 'its end';
    throw new InputTextProblem(label, `not valid JSON at ${where} (a missing comma, quote or bracket?)`);
  }
}

/**
 * The text of a YAML or JSON file an operator wrote (`label` names it: "setup.yaml", "--input
 * setup.yaml") -> its value. A name ending in `.json` is read as JSON, anything else as YAML (of
 * which JSON is a part). Refused with InputTextProblem, every message starting with `label` and in
 * an operator's words (never the yaml library's): a syntax error with its line and column, more than
 * one YAML document, an alias (`*name`: refused before it is expanded, so an alias bomb costs
 * nothing), a tag the reader does not know (`!!js/function`). yaml's own warnings are silenced (it
 * would print them to stderr, quoting the file).
 */
export function parseYamlOrJson(
  text: string,
  label: string,
  /** Aliases allowed (a file the operator keeps, e.g. the clusters file), expanded at most 100 times; refused otherwise. */
  options: { allowAliases?: boolean } = {},
): unknown {
  if (/\.json$/i.test(label)) return parseJson(text, label);
  const documents = YAML.parseAllDocuments(text, { logLevel: 'silent', prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(documents)) return undefined; // an empty file (or comments only)
  if (documents.length > 1)
    throw new InputTextProblem(label, `holds more than one YAML document (a line "---" or "..." starts another); put everything in one`,
    );
  const document = documents[0];
  if (!document) return undefined;
  // An unclosed bracket also misaligns what follows: the bracket is the cause worth naming.
  const error = document.errors.find((e) => e.code === 'MISSING_CHAR') ?? document.errors[0];
  if (error) {
    throw new InputTextProblem(label, `not valid YAML at ${at(text, error)}: ${YAML_PROBLEMS[error.code] ?? 'not YAML syntax'}`);
  }
  const tag = document.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (tag) {
    const name = text.slice(tag.pos[0], tag.pos[1]).trim() || 'this one';
    throw new InputTextProblem(label, `at ${at(text, tag)}: YAML tags like ${name} are not allowed here; write the plain value`);
  }
  let alias: { source: string; range?: [number, number, number] | null } | undefined;
  YAML.visit(document, {
    Alias(_, node) {
      alias = node as typeof alias;
      return YAML.visit.BREAK;
    },
  });
  if (alias && !options.allowAliases) {
    const where = alias.range ? ` at ${lineAndColumn(text, alias.range[0])}` : '';
    throw new InputTextProblem(label, `YAML aliases (*${alias.source}) are not allowed here${where}; write the value out`);
  }
  const warning = document.warnings[0];
  if (warning) throw new InputTextProblem(label, `not valid YAML at ${at(text, warning)}: ${YAML_PROBLEMS[warning.code] ?? 'not YAML syntax'}`);
  try {
    return document.toJS({ maxAliasCount: options.allowAliases ? 100 : 0 });
  } catch (err) {
    if (/Unresolved alias/i.test((err as Error).message))
      throw new InputTextProblem(label, 'a YAML alias (*name) names no anchor (&name) set before it');
    throw new InputTextProblem(label, 'its YAML aliases (*name) expand too much (more than 100 times); write the values out');
  }
}
