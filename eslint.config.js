// ESLint: typescript-eslint's recommended rules and a 120-character line
// limit over the sources, tests, benches and scripts (generated/ is the
// generator's output, checked by its own test).
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'generated/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
      },
    },
    plugins: { '@stylistic': stylistic },
    rules: {
      // A test's title stays on its line: it is one sentence, read in the
      // runner's output and searched for by its words (split, it is neither).
      '@stylistic/max-len': [
        'error',
        {
          code: 120,
          ignoreUrls: true,
          ignoreRegExpLiterals: true,
          ignorePattern: String.raw`^\s*(?:it|test|describe)(?:\.\w+)*\((?:'[^']*'|"[^"]*"|\x60[^\x60]*\x60),`,
        },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
);
