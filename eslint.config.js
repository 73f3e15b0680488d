// @ts-check
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O libraries, and activities only as
// types (their code runs on workers, never inside a workflow).
const WORKFLOW_FILES = ['workflows/**/*.ts', 'test/**/fixtures/workflows.ts'];
const builtins = builtinModules.filter((m) => !m.startsWith('_'));

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', 'dist/**', '**/workflow-bundle-*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use an `as const` object instead of an enum.' },
      ],
    },
  },
  {
    files: WORKFLOW_FILES,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: builtins.flatMap((m) => [
            { name: m, message: 'Workflows are deterministic: no Node built-ins.' },
            { name: `node:${m}`, message: 'Workflows are deterministic: no Node built-ins.' },
          ]),
          patterns: [
            {
              group: ['**/activities/**', '**/activities'],
              allowTypeImports: true,
              message: 'Workflows import activities as types only (proxyActivities<typeof ...>).',
            },
            {
              group: ['**/connectors/**', '**/workers/**', '**/cli/**', '**/infra/**'],
              message: 'Workflows import only @temporalio/workflow, @temporalio/common and shared types.',
            },
            {
              group: ['@temporalio/*', '!@temporalio/workflow', '!@temporalio/common'],
              message: 'Workflows use @temporalio/workflow (and @temporalio/common) only.',
            },
          ],
        },
      ],
    },
  },
);
