// Lint: the folder boundaries the project relies on, as rules instead of prose, and promises that
// are never left floating. `npm run lint` (part of scripts/test.sh).
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/** Paths into the tooling (demo, simulator, dev environment, recorder, benchmarks). */
const tooling = { group: ['**/tools/**', '**/tools'], message: 'the product never imports the tooling (tools/)' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.data/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    // Workflow code is replayed deterministically in a sandbox: no I/O, no activity code.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'workflows do no I/O: Node built-ins belong in activities' })),
            { name: 'undici', message: 'workflows do no I/O: HTTP belongs in activities' },
            { name: '@temporalio/client', message: 'workflow code uses @temporalio/workflow', allowTypeImports: true },
            { name: '@temporalio/worker', message: 'workflow code uses @temporalio/workflow', allowTypeImports: true },
            { name: '@temporalio/activity', message: 'workflow code uses @temporalio/workflow', allowTypeImports: true },
          ],
          patterns: [
            { group: ['**/activities', '**/activities/**'], allowTypeImports: true, message: 'workflows call activities through proxyActivities (import type only)' },
            { group: ['**/worker/**', '**/src/element', '**/src/element/**', '**/src/kmip', '**/src/kmip/**', '**/src/config/**', '**/src/notify/**'], allowTypeImports: true, message: 'workflows import only workflow-safe code' },
            tooling,
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts', 'activities/**/*.ts', 'worker/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [tooling] }] },
  },
  {
    // The simulator answers from the Element API as documented, independently of the product's client.
    files: ['tools/simulator/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/element', '**/src/element/**'],
              message: "the simulator does not use the product's Element client or schemas",
            },
          ],
        },
      ],
    },
  },
);
