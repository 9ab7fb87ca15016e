import { builtinModules } from 'node:module';
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';
import { librariesTagged } from './tools/project-tags.mjs';

// Nx's bannedExternalImports never sees Node's builtins (they belong to no project, so the
// rule returns before checking the ban): the bans below use ESLint's core rules instead, on
// the files of every library tagged type:domain or type:contract.
const filesOfLibrariesTagged = (tag) => librariesTagged(tag).map((library) => `${library}/**/*.ts`);

const banned = (regex, what) => ({ regex, message: `${what}: domain and contract code is plain TypeScript, free of I/O and frameworks.` });
const NODE_IMPORTS = [
  banned('^node:', 'a Node builtin'),
  banned(`^(${builtinModules.filter((name) => !name.startsWith('_')).join('|')})(/.*)?$`, 'a Node builtin'),
];
const FRAMEWORK_IMPORTS = [
  banned('^@nestjs/', 'Nest'),
  banned('^(typeorm|pg)(/.*)?$', 'the database'),
  banned('^@nats-io/', 'the bus'),
  banned('^(pino|express)(/.*)?$', 'a service framework'),
  banned('^@opentelemetry/', 'telemetry'),
];
// What Node, not the language, puts in scope; web globals such as URL stay allowed.
const NODE_GLOBALS = ['process', 'Buffer', 'require', 'module', 'exports', '__dirname', '__filename', 'global', 'setImmediate', 'clearImmediate'].map(
  (name) => ({
    name,
    message: `Node's ${name}: domain and contract code is plain TypeScript; take what you need as an argument.`,
  }),
);
const plainTypeScript = (files, patterns) => ({
  files,
  // Specs run under Jest on Node and may use it (random bytes for property tests).
  ignores: ['**/*.spec.ts'],
  rules: {
    'no-restricted-imports': ['error', { patterns }],
    'no-restricted-globals': ['error', ...NODE_GLOBALS],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.keyledger/**', '.nx/**', '**/*.mjs', '**/*.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Nest decorates classes whose only members are static or injected.
      '@typescript-eslint/no-extraneous-class': 'off',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          banTransitiveDependencies: false,
          depConstraints: [
            // Domain rules are plain TypeScript: no framework, database, bus or Node import.
            // Their external imports are banned by the rules at the end of this file.
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain', 'type:contract'] },
            { sourceTag: 'type:contract', onlyDependOnLibsWithTags: ['type:contract'] },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util', 'type:contract', 'type:domain'] },
            { sourceTag: 'type:data-access', onlyDependOnLibsWithTags: ['type:data-access', 'type:util', 'type:contract', 'type:domain', 'type:testing'] },
            // type:testing for integration specs, as data-access libraries have it.
            { sourceTag: 'type:feature', onlyDependOnLibsWithTags: ['type:feature', 'type:data-access', 'type:util', 'type:contract', 'type:domain', 'type:testing'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:feature', 'type:data-access', 'type:util', 'type:contract', 'type:domain'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:data-access', 'type:util', 'type:contract', 'type:domain'] },
          ],
        },
      ],
    },
  },
  {
    // Tests may use the testing library and assert on loosely typed payloads.
    files: ['**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  // Domain rules are plain TypeScript: no framework, database, bus, schema library or Node.
  plainTypeScript(filesOfLibrariesTagged('type:domain'), [
    ...NODE_IMPORTS,
    ...FRAMEWORK_IMPORTS,
    banned('^zod(/.*)?$', 'the schema library (schemas belong to the contracts)'),
  ]),
  // Contracts are schemas (zod) and may name gRPC's types (generated message types do), not load gRPC.
  plainTypeScript(filesOfLibrariesTagged('type:contract'), [
    ...NODE_IMPORTS,
    ...FRAMEWORK_IMPORTS,
    { ...banned('^@grpc/', 'gRPC at run time'), allowTypeImports: true },
  ]),
  prettier,
);
