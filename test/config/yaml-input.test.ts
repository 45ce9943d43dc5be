import { InputTextProblem, parseYamlOrJson } from '../../src/config/yaml-input';

const problem = (text: string, label = 'setup.yaml') => {
  try {
    parseYamlOrJson(text, label);
  } catch (err) {
    expect(err).toBeInstanceOf(InputTextProblem);
    return (err as Error).message;
  }
  throw new Error(`accepted: ${text}`);
};

describe('parseYamlOrJson: an operator-written YAML or JSON file, problems in the operator’s words', () => {
  it('reads YAML, JSON in a .json file, and an empty file', () => {
    expect(parseYamlOrJson('a: 1\nb: {c: [x, "y"]}\n', 'setup.yaml')).toEqual({ a: 1, b: { c: ['x', 'y'] } });
    expect(parseYamlOrJson('{"a": 1}', 'setup.json')).toEqual({ a: 1 });
    expect(parseYamlOrJson('# nothing yet\n', 'setup.yaml')).toBeUndefined();
  });

  it('refuses aliases, an alias bomb before it is expanded, with the file and where', () => {
    expect(problem('x: *nope\n')).toBe(
      'setup.yaml: YAML aliases (*nope) are not allowed here at line 1, column 4; write the value out',
    );
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      ...'bcdefghij'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghij'[i]}`).join(', ')}]`),
    ].join('\n');
    expect(problem(bomb)).toMatch(/^setup\.yaml: YAML aliases \(\*a\) are not allowed here at line 2/);
  });

  it('refuses more than one document, unknown tags, syntax errors: never the library’s message', () => {
    expect(problem('a: 1\n---\nb: 2\n')).toBe(
      'setup.yaml: holds more than one YAML document (a line "---" or "..." starts another); put everything in one',
    );
    expect(problem('f: !!js/function "function () {}"\n')).toBe(
      'setup.yaml: at line 1, column 4: YAML tags like !!js/function are not allowed here; write the plain value',
    );
    expect(problem('a: 1\na: 2\n')).toBe('setup.yaml: not valid YAML at line 2, column 1: this key is given twice');
    expect(problem('a: [1, 2\n')).toBe(
      'setup.yaml: not valid YAML at line 2, column 1: the indentation does not line up, or a [ or { before it is not closed',
    );
    expect(problem('b: "x\n')).toBe(
      'setup.yaml: not valid YAML at line 2, column 1: a quote or bracket opened here is not closed',
    );
    for (const text of ['a: *x', 'a: 1\n---\nb: 2', 'f: !!js/function x', 'a: [1', 'a:\n\t- b', 'a: "\\q"'])
      expect(problem(text)).not.toMatch(/YAML\.|parseAllDocuments|resource exhaustion|Unresolved|Map keys|unavailable/i);
  });

  it('says a .json file is not valid JSON, with the line and column', () => {
    expect(problem('{\n  "a": 1,\n}\n', 'setup.json')).toBe(
      'setup.json: not valid JSON at line 3, column 1 (a missing comma, quote or bracket?)',
    );
  });

  it('prints nothing (yaml would warn on stderr about an unknown tag, quoting the file)', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const emit = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      problem('f: !!js/function x\n');
      problem('g: !custom 3\n');
      expect([warn.mock.calls, emit.mock.calls]).toEqual([[], []]);
    } finally {
      warn.mockRestore();
      emit.mockRestore();
    }
  });
});

describe('a kept file may use anchors and aliases (the clusters file)', () => {
  it('expands them, within a bound, and names an alias without its anchor', () => {
    expect(parseYamlOrJson('base: &b {x: 1}\nc: *b\n', 'clusters.yaml', { allowAliases: true })).toEqual({
      base: { x: 1 },
      c: { x: 1 },
    });
    expect(() => parseYamlOrJson('c: *nope\n', 'clusters.yaml', { allowAliases: true })).toThrow(
      'clusters.yaml: a YAML alias (*name) names no anchor (&name) set before it',
    );
    const bomb =
      'a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n';
    expect(() => parseYamlOrJson(bomb, 'clusters.yaml', { allowAliases: true })).toThrow(
      /expand too much \(more than 100 times\)/,
    );
  });
});
