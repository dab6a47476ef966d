import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import noImportCycle from './eslint-rules/no-import-cycle.js';

/**
 * Layers of src/ (DESIGN.md): core ← stages (ingest, infer, stream, publish) ← config ← analyzer ←
 * the edges (app, cli, control, web, cluster, observability), which may import anything. A folder
 * imports core, the folders in `any`, and the stages in `viaIndex` only through their index.ts
 * (their public surface); nothing imports a folder above its own. ingest and infer never import
 * stream; stream imports no transport.
 */
const STAGES = ['ingest', 'infer', 'stream', 'publish'];
const FOLDERS = [
  ...STAGES,
  'core',
  'config',
  'analyzer',
  'app',
  'cli',
  'control',
  'web',
  'cluster',
  'observability',
];
const LAYERS = {
  core: { any: [], viaIndex: [] },
  ingest: { any: [], viaIndex: ['infer', 'publish'] },
  infer: { any: [], viaIndex: ['ingest', 'publish'] },
  publish: { any: [], viaIndex: ['ingest', 'infer', 'stream'] },
  stream: { any: [], viaIndex: [] },
  config: { any: [], viaIndex: STAGES },
  analyzer: { any: [...STAGES, 'config'], viaIndex: [] },
};
/** Packages that move bytes over a wire or a pipeline: the stream stage stays pure. */
const TRANSPORTS =
  '^(@nats-io/|@grpc/|gstreamer-superficial$|ws$|onnxruntime-node$|node:(http|https|http2|net|dgram|child_process)$)';

function layerRule(folder, extraAllowed = []) {
  const { any, viaIndex } = LAYERS[folder];
  const allowed = new Set(['core', folder, ...any, ...viaIndex, ...extraAllowed]);
  const forbidden = FOLDERS.filter((f) => !allowed.has(f));
  const patterns = [];
  if (forbidden.length > 0) {
    patterns.push({
      regex: `^\\.\\./(${forbidden.join('|')})(/|$)`,
      message: `src/${folder} sits below these folders in the layers (see eslint.config.js).`,
    });
  }
  const indexOnly = viaIndex.filter((f) => !extraAllowed.includes(f));
  if (indexOnly.length > 0) {
    patterns.push({
      regex: `^\\.\\./(${indexOnly.join('|')})/(?!index\\.js$)`,
      message: 'import another stage through its index.ts (its public surface), not its internals.',
    });
  }
  if (folder === 'stream') {
    patterns.push({ regex: TRANSPORTS, message: 'the stream stage is pure RxJS: no transport here.' });
  }
  return ['error', { patterns }];
}

/** Files that break a layer rule today, each with the reason and who removes the exception. */
const LAYER_EXCEPTIONS = {};

/**
 * Files whose closures use names declared below them, in functions being split into classes
 * (issue 17 §3, "refactor" and "root" work): TEMPORARY, remove each entry with its split.
 */
const USE_BEFORE_DEFINE_EXCEPTIONS = [];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'models/**',
      '.vigil/**',
      'samples/**',
      'coverage/**',
      'src/infer/generated/**',
    ],
  },
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
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        performance: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { vigil: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: { 'vigil/no-import-cycle': 'error' },
  },
  {
    // A closure that uses a variable declared below it works only if it runs late enough: declare first.
    files: ['src/**/*.ts', 'test/**/*.ts'],
    ignores: USE_BEFORE_DEFINE_EXCEPTIONS,
    rules: {
      '@typescript-eslint/no-use-before-define': [
        'error',
        { functions: false, classes: false, variables: true, typedefs: false, ignoreTypeReferences: true },
      ],
    },
  },
  ...Object.keys(LAYERS).map((folder) => ({
    files: [`src/${folder}/**/*.ts`],
    ignores: Object.keys(LAYER_EXCEPTIONS),
    rules: { 'no-restricted-imports': layerRule(folder) },
  })),
  ...Object.entries(LAYER_EXCEPTIONS).map(([file, extra]) => ({
    files: [file],
    rules: { 'no-restricted-imports': layerRule(file.split('/')[1], extra) },
  })),
);
