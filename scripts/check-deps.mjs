#!/usr/bin/env node
/**
 * Dependency check, run by `npm test` before the tests: every GStreamer element, executable, Python
 * module and GObject typelib that src/, test/, bench/, scripts/ and bin/ use must be installed AND
 * come from a Debian package that scripts/setup.sh installs: a package in its APT_PACKAGES list, in
 * the Depends/Pre-Depends closure of that list (setup installs with --no-install-recommends), or in
 * Debian's base system (Essential: yes or Priority: required). A package installed by hand on a
 * developer machine that setup.sh does not name fails here, naming the package.
 *
 * The uses are found statically and conservatively (few false positives; see IGNORE for the rest):
 *  - pipeline descriptions: the factory name starting each `!`-separated segment of any string (or
 *    string built with `+` or a template) that contains a lone `!`, and of gst-launch argv arrays;
 *  - `ElementFactory.make('name')` calls;
 *  - spawned commands: the first argument of spawn/spawnSync/execFile/execFileSync and of local
 *    wrappers around them (`promisify(execFile)`, a function passing its first parameter on), as a
 *    literal or a `const` in the same file; absolute executable paths (`'/usr/bin/chromium'`);
 *    commands of shell scripts; shebangs;
 *  - Python: imported modules, `gi.require_version` typelibs, pipeline strings.
 * Elements decodebin plugs at run time cannot be seen statically: IMPLICIT names them, with why.
 *
 * Usage: node scripts/check-deps.mjs [--setup FILE] [--root DIR] [--list]
 * Exit 0: all good; 1: problems (each printed on its own line); 2: the check itself failed.
 */
import { execFile } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  readFileSync,
  readdirSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SCAN_DIRS = ['src', 'test', 'bench', 'scripts', 'bin'];
/** Stands for a part of a string the scanner cannot know (a substitution, a variable). */
export const PH = '\u0000';

/** False positives and uses that are not Debian packages' business, each with its reason. */
export const IGNORE = {
  executable: {
    node: 'the Node.js >= 20 prerequisite, checked by setup.sh itself (not installed from apt)',
    npm: 'comes with Node.js (prerequisite, checked by setup.sh)',
    npx: 'comes with Node.js (prerequisite, checked by setup.sh)',
  },
  element: {},
  'python-module': {},
  typelib: {},
  /** Files whose strings are hostile input or examples, not pipelines or commands Vigil runs. */
  files: {
    'test/integration/badinput-table.test.ts': 'gst-launch syntax as hostile user input, never run',
    'test/unit/check-deps.test.ts': "this check's own test fixtures",
    'scripts/check-deps.mjs':
      'this scanner: its shell keyword lists hold a lone "!" (its own commands: IMPLICIT)',
  },
};

/**
 * Uses no scanned string names: elements decodebin plugs at run time for the media the tests and
 * the demo play, and this check's own tools.
 */
export const IMPLICIT = [
  { kind: 'executable', name: 'gst-inspect-1.0', why: 'this check looks elements up with it' },
  { kind: 'executable', name: 'dpkg-query', why: 'this check looks packages up with it' },
  { kind: 'executable', name: '/usr/bin/python3', why: 'this check looks Python modules up with it' },
  { name: 'avdec_h264', why: 'decodebin decodes the H.264 of the RTSP server, MP4 and HLS test clips' },
  { name: 'avdec_msmpeg4', why: 'decodebin decodes samples/vtest.avi (MS-MPEG4 v3), the demo feed' },
  { name: 'avdec_aac', why: 'decodebin decodes the AAC audio of the MP4 test clip' },
  { name: 'rtph264depay', why: 'rtspsrc ! decodebin depayloads the RTSP server H.264' },
  { name: 'opusdec', why: 'decodebin decodes the RTSP server Opus audio (--audio)' },
  { name: 'hlsdemux', why: 'decodebin plays HLS playlists (http sources)' },
  { name: 'jpegdec', why: 'decodebin decodes the JPEG samples (samples/*.jpg)' },
];

/** Where an absent element or executable comes from, so the message can name the package. */
export const KNOWN_PACKAGES = {
  element: {
    textoverlay: 'gstreamer1.0-x',
    timeoverlay: 'gstreamer1.0-x',
    clockoverlay: 'gstreamer1.0-x',
    textrender: 'gstreamer1.0-x',
    ximagesink: 'gstreamer1.0-x',
    x264enc: 'gstreamer1.0-plugins-ugly',
    avdec_h264: 'gstreamer1.0-libav',
    avdec_msmpeg4: 'gstreamer1.0-libav',
    avdec_aac: 'gstreamer1.0-libav',
    rtspsrc: 'gstreamer1.0-plugins-good',
    rtph264pay: 'gstreamer1.0-plugins-good',
    rtph264depay: 'gstreamer1.0-plugins-good',
    rtpopuspay: 'gstreamer1.0-plugins-good',
    qtdemux: 'gstreamer1.0-plugins-good',
    mp4mux: 'gstreamer1.0-plugins-good',
    matroskamux: 'gstreamer1.0-plugins-good',
    souphttpsrc: 'gstreamer1.0-plugins-good',
    capssetter: 'gstreamer1.0-plugins-good',
    jpegdec: 'gstreamer1.0-plugins-good',
    v4l2src: 'gstreamer1.0-plugins-good',
    h264parse: 'gstreamer1.0-plugins-bad',
    hlsdemux: 'gstreamer1.0-plugins-bad',
    hlssink: 'gstreamer1.0-plugins-bad',
    mpegtsmux: 'gstreamer1.0-plugins-bad',
    audiobuffersplit: 'gstreamer1.0-plugins-bad',
    voaacenc: 'gstreamer1.0-plugins-bad',
    opusenc: 'gstreamer1.0-plugins-base',
    opusdec: 'gstreamer1.0-plugins-base',
    videotestsrc: 'gstreamer1.0-plugins-base',
    audiotestsrc: 'gstreamer1.0-plugins-base',
    decodebin: 'gstreamer1.0-plugins-base',
    videoconvert: 'gstreamer1.0-plugins-base',
    videoscale: 'gstreamer1.0-plugins-base',
    videorate: 'gstreamer1.0-plugins-base',
    audioconvert: 'gstreamer1.0-plugins-base',
    audioresample: 'gstreamer1.0-plugins-base',
    appsink: 'gstreamer1.0-plugins-base',
    wavparse: 'gstreamer1.0-plugins-good',
  },
  executable: {
    'gst-launch-1.0': 'gstreamer1.0-tools',
    'gst-inspect-1.0': 'gstreamer1.0-tools',
    'gst-discoverer-1.0': 'gstreamer1.0-plugins-base-apps',
    'nats-server': 'nats-server',
    prometheus: 'prometheus',
    promtool: 'prometheus',
    chromium: 'chromium',
    ffmpeg: 'ffmpeg',
    ffprobe: 'ffmpeg',
    'espeak-ng': 'espeak-ng',
    openssl: 'openssl',
    python3: 'python3',
    pgrep: 'procps',
    sox: 'sox',
    convert: 'imagemagick',
  },
  'python-module': { gi: 'python3-gi' },
  typelib: { 'GstRtspServer-1.0': 'gir1.2-gst-rtsp-server-1.0', 'Gst-1.0': 'gir1.2-gstreamer-1.0' },
};

// ---------------------------------------------------------------------------------------------
// Parsing (pure)

/** The packages of setup.sh's `APT_PACKAGES=( ... )` array (comments and line breaks allowed). */
export function parseAptPackages(setupText) {
  const lines = setupText.split('\n').map((l) => l.replace(/(^|\s)#.*$/, ''));
  const first = lines.findIndex((l) => /^\s*APT_PACKAGES=\(/.test(l));
  if (first < 0) throw new Error('no APT_PACKAGES=( ... ) array in the set-up script');
  const words = [];
  lines[first] = lines[first].replace(/^\s*APT_PACKAGES=\(/, '');
  for (let i = first; i < lines.length; i++) {
    const close = lines[i].indexOf(')');
    words.push(...(close < 0 ? lines[i] : lines[i].slice(0, close)).split(/\s+/).filter(Boolean));
    if (close >= 0) return words;
  }
  throw new Error('APT_PACKAGES=( is never closed in the set-up script');
}

const FACTORY = /^[a-z][a-z0-9_-]*[a-z0-9]$/;

/**
 * Element factory names in a gst-launch description (or a fragment of one): the first word of
 * each `!`-separated segment, when it is a factory name (not caps, a pad reference `dec.`, a
 * property, an option or an unknown part). Strings without a lone `!` are not descriptions.
 */
export function elementsInDescription(text) {
  if (!/(^|\s)!(\s|$)/.test(text)) return [];
  const out = [];
  for (const segment of text.split(/(?:^|\s)!(?=\s|$)/)) {
    const words = segment.trim().split(/\s+/);
    while (words.length > 0 && /^(-|\(|\)$|gst-launch-1\.0$)/.test(words[0])) words.shift();
    const w = words[0];
    if (!w || w.includes(PH) || !FACTORY.test(w)) continue;
    if (!out.includes(w)) out.push(w);
  }
  return out;
}

const SHELL_SKIP = new Set([
  ...['if', 'then', 'else', 'elif', 'fi', 'for', 'in', 'do', 'done', 'while', 'until', 'case', 'esac'],
  ...['function', 'select', 'time', '{', '}', '[', '[[', ']]', 'echo', 'printf', 'read', 'local', 'export'],
  ...['declare', 'readonly', 'return', 'exit', 'set', 'unset', 'shift', 'trap', 'cd', 'pwd', 'test', 'true'],
  ...['false', 'source', '.', 'eval', 'exec', 'wait', 'command', 'type', 'hash', 'ulimit', 'umask', 'break'],
  ...['continue', 'let', 'mapfile', 'pushd', 'popd', 'getopts', 'builtin', 'kill'],
]);

/**
 * Commands a shell script runs: the first word of each simple command (after `;`, `&&`, `||`, `|`,
 * `(`, `$(`, a newline or a keyword), skipping assignments, builtins, keywords and the script's
 * own functions. Array assignments `NAME=( ... )` are skipped whole; text in single quotes is data.
 */
export function commandsInShell(text) {
  const functions = new Set(
    [...text.matchAll(/^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{/gm)].map((m) => m[1]),
  );
  const found = [];
  let line = 1;
  let word = '';
  let wordLine = 1;
  let atCommand = true;
  let arrayDepth = 0;
  /** Nesting: 'sq' | 'dq' | 'sub' (a `$(`) | 'paren' */
  const stack = [];
  const top = () => stack[stack.length - 1];
  const flush = () => {
    if (!word) return;
    const w = word;
    word = '';
    if (arrayDepth > 0) return;
    if (atCommand) {
      if (/^[A-Za-z_][A-Za-z0-9_]*=\($/.test(w)) {
        arrayDepth = 1;
        return;
      }
      if (/^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/.test(w)) return; // an assignment: the command follows
      if (['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', 'time'].includes(w)) return;
      atCommand = false;
      if (SHELL_SKIP.has(w) || functions.has(w)) return;
      if (/^[a-z][a-z0-9._+-]*$/.test(w) || /^\/[\w./+-]+$/.test(w)) found.push({ name: w, line: wordLine });
    }
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const t = top();
    if (t === 'sq') {
      if (c === "'") stack.pop();
      if (c === '\n') line++;
      continue;
    }
    if (t === 'dq') {
      if (c === '\\') i++;
      else if (c === '"') stack.pop();
      else if (c === '$' && text[i + 1] === '(' && text[i + 2] !== '(') {
        flush();
        stack.push('sub');
        i++;
        atCommand = true;
      } else if (c === '\n') line++;
      continue;
    }
    if (c === '#' && !word && (i === 0 || /\s|;/.test(text[i - 1]))) {
      while (i < text.length && text[i] !== '\n') i++;
      i--;
      continue;
    }
    if (c === "'") {
      if (!word) wordLine = line;
      word += PH;
      stack.push('sq');
      continue;
    }
    if (c === '"') {
      if (!word) wordLine = line;
      word += PH;
      stack.push('dq');
      continue;
    }
    if (c === '\\') {
      if (text[i + 1] === '\n') line++;
      i++;
      continue;
    }
    if (c === '$' && text[i + 1] === '(') {
      if (text[i + 2] === '(') {
        // arithmetic $(( )): data
        const end = text.indexOf('))', i);
        word += PH;
        i = end < 0 ? text.length : end + 1;
        continue;
      }
      flush();
      stack.push('sub');
      i++;
      atCommand = true;
      continue;
    }
    if (c === '(' && word.endsWith('=')) {
      word += c;
      flush();
      continue;
    }
    if (c === ')') {
      flush();
      if (arrayDepth > 0) {
        arrayDepth = 0;
        continue;
      }
      if (t === 'sub' || t === 'paren') stack.pop();
      atCommand = false;
      continue;
    }
    if (c === '(') {
      flush();
      stack.push('paren');
      atCommand = true;
      continue;
    }
    if (c === '\n' || c === ';' || c === '|' || c === '&') {
      flush();
      if (c === '\n') line++;
      if (arrayDepth === 0) atCommand = true;
      continue;
    }
    if (c === ' ' || c === '\t') {
      flush();
      continue;
    }
    if (!word) wordLine = line;
    word += c;
  }
  flush();
  return found;
}

/**
 * Python source: imported top-level modules, `gi.require_version` typelibs, and pipeline strings
 * (adjacent literals joined as Python does; `{...}` format fields are unknown parts).
 */
export function scanPython(text) {
  const modules = [];
  const typelibs = [];
  const strings = []; // { text, line }
  const lineAt = (i) => text.slice(0, i).split('\n').length;
  for (const m of text.matchAll(
    /^\s*(?:from\s+([A-Za-z_][\w]*)[\w.]*\s+import|import\s+([A-Za-z_][\w]*))/gm,
  )) {
    modules.push({ name: m[1] ?? m[2], line: lineAt(m.index) });
  }
  for (const m of text.matchAll(/require_version\(\s*["']([\w]+)["']\s*,\s*["']([\w.]+)["']\s*\)/g)) {
    typelibs.push({ name: `${m[1]}-${m[2]}`, line: lineAt(m.index) });
  }
  // String tokens, with comments skipped; adjacent literals (only whitespace between) join.
  let i = 0;
  let current = null;
  while (i < text.length) {
    const c = text[i];
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const q = /^[rRbBuUfF]{0,2}("""|'''|"|')/.exec(text.slice(i, i + 5));
    if (q && (i === 0 || !/[\w]/.test(text[i - 1]))) {
      const quote = q[1];
      const start = i + q[0].length;
      let j = start;
      while (j < text.length && text.slice(j, j + quote.length) !== quote) j += text[j] === '\\' ? 2 : 1;
      const body = text.slice(start, j).replace(/\{[^{}]*\}/g, PH);
      if (current) current.text += body;
      else current = { text: body, line: lineAt(i) };
      i = j + quote.length;
      continue;
    }
    if (!/\s/.test(c) && current) {
      strings.push(current);
      current = null;
    }
    i++;
  }
  if (current) strings.push(current);
  const elements = [];
  for (const s of strings)
    for (const e of elementsInDescription(s.text)) elements.push({ name: e, line: s.line });
  const executables = [];
  const shebang = /^#!\s*(\S+)/.exec(text);
  if (shebang && shebang[1] !== '/usr/bin/env') executables.push({ name: shebang[1], line: 1 });
  return { modules, typelibs, elements, executables };
}

const SPAWNERS = ['spawn', 'spawnSync', 'execFile', 'execFileSync'];
const ABS_EXE = /^\/(usr\/)?s?bin\/[A-Za-z0-9._+-]+$/;
const COMMAND = /^[A-Za-z0-9._+-]+$/;

let tsModule;
function typescript() {
  tsModule ??= createRequire(import.meta.url)('typescript');
  return tsModule;
}

/** Cheap test before parsing: only files that might use something are parsed. */
const INTERESTING = /\s!\s|['"`]!['"`]|spawn|execFile|\/bin\/|ElementFactory/;

/** Elements and executables a TypeScript/JavaScript file uses (see the header). */
export function scanScript(fileName, text) {
  const elements = [];
  const executables = [];
  if (!INTERESTING.test(text)) return { elements, executables };
  const ts = typescript();
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const lineOf = (node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const consts = new Map();
  const spawners = new Set(SPAWNERS);
  const nameOfCallee = (e) =>
    ts.isIdentifier(e) ? e.text : ts.isPropertyAccessExpression(e) ? e.name.text : undefined;
  const isSpawnCall = (n) => ts.isCallExpression(n) && spawners.has(nameOfCallee(n.expression) ?? '');

  const textOf = (e) => {
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
    if (ts.isTemplateExpression(e))
      return e.head.text + e.templateSpans.map((s) => PH + s.literal.text).join('');
    if (ts.isParenthesizedExpression(e)) return textOf(e.expression);
    if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken)
      return textOf(e.left) + textOf(e.right);
    if (ts.isIdentifier(e) && consts.has(e.text)) return consts.get(e.text);
    return PH;
  };

  // Pass 1: string consts, and local wrappers of the spawners (to a fixed point).
  const walk = (node, fn) => {
    fn(node);
    ts.forEachChild(node, (c) => walk(c, fn));
  };
  walk(sf, (n) => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer) {
      const init = n.initializer;
      if (ts.isStringLiteral(init) || ts.isNoSubstitutionTemplateLiteral(init))
        consts.set(n.name.text, init.text);
    }
  });
  for (let round = 0; round < 3; round++) {
    const before = spawners.size;
    walk(sf, (n) => {
      // const run = promisify(execFile)
      if (
        ts.isVariableDeclaration(n) &&
        ts.isIdentifier(n.name) &&
        n.initializer &&
        ts.isCallExpression(n.initializer)
      ) {
        const call = n.initializer;
        const arg = call.arguments[0];
        if (nameOfCallee(call.expression) === 'promisify' && arg && spawners.has(nameOfCallee(arg) ?? '')) {
          spawners.add(n.name.text);
        }
      }
      // function run(cmd, ...) { ... execFileSync(cmd, ...) }  /  const run = (cmd, ...) => spawn(cmd, ...)
      let name;
      let fn;
      if (ts.isFunctionDeclaration(n) && n.name) [name, fn] = [n.name.text, n];
      else if (
        ts.isVariableDeclaration(n) &&
        ts.isIdentifier(n.name) &&
        n.initializer &&
        (ts.isArrowFunction(n.initializer) || ts.isFunctionExpression(n.initializer))
      )
        [name, fn] = [n.name.text, n.initializer];
      const p = fn?.parameters[0];
      if (name && p && ts.isIdentifier(p.name) && fn.body) {
        const param = p.name.text;
        walk(fn.body, (m) => {
          if (
            isSpawnCall(m) &&
            m.arguments[0] &&
            ts.isIdentifier(m.arguments[0]) &&
            m.arguments[0].text === param
          )
            spawners.add(name);
        });
      }
    });
    if (spawners.size === before) break;
  }

  // Pass 2: uses.
  const spreadArrays = new Set();
  const addElements = (text, node) => {
    for (const e of elementsInDescription(text)) elements.push({ name: e, line: lineOf(node) });
  };
  walk(sf, (n) => {
    if (isSpawnCall(n) && n.arguments[0]) {
      const cmd = textOf(n.arguments[0]);
      if (!cmd.includes(PH) && COMMAND.test(cmd.replace(/\//g, '')))
        executables.push({ name: cmd, line: lineOf(n) });
    }
    if (
      ts.isCallExpression(n) &&
      ts.isPropertyAccessExpression(n.expression) &&
      n.expression.name.text === 'make'
    ) {
      const owner = n.expression.expression;
      const arg = n.arguments[0];
      if (nameOfCallee(owner) === 'ElementFactory' && arg) {
        const f = textOf(arg);
        if (FACTORY.test(f)) elements.push({ name: f, line: lineOf(n) });
      }
    }
    if (ts.isStringLiteral(n) && ABS_EXE.test(n.text)) executables.push({ name: n.text, line: lineOf(n) });
    // The outermost string expression: a literal, a template, or a `+` chain of them.
    const stringy =
      ts.isStringLiteral(n) ||
      ts.isNoSubstitutionTemplateLiteral(n) ||
      ts.isTemplateExpression(n) ||
      (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.PlusToken);
    if (stringy) {
      const parent = n.parent;
      const inner =
        (ts.isBinaryExpression(parent) && parent.operatorToken.kind === ts.SyntaxKind.PlusToken) ||
        ts.isParenthesizedExpression(parent) ||
        ts.isArrayLiteralExpression(parent);
      if (!inner) addElements(textOf(n), n);
    }
    // gst-launch argv: an array (spreads of arrays and of string.split(' ') flattened) with a '!'.
    if (ts.isArrayLiteralExpression(n) && !spreadArrays.has(n)) {
      const words = [];
      const flatten = (arr) => {
        for (const el of arr.elements) {
          if (ts.isSpreadElement(el) && ts.isArrayLiteralExpression(el.expression)) {
            spreadArrays.add(el.expression);
            flatten(el.expression);
          } else if (
            ts.isSpreadElement(el) &&
            ts.isCallExpression(el.expression) &&
            ts.isPropertyAccessExpression(el.expression.expression) &&
            el.expression.expression.name.text === 'split'
          ) {
            words.push(textOf(el.expression.expression.expression));
          } else words.push(ts.isSpreadElement(el) ? PH : textOf(el));
        }
      };
      flatten(n);
      if (words.includes('!')) addElements(words.join(' '), n);
    }
  });
  return { elements, executables };
}

// ---------------------------------------------------------------------------------------------
// Debian's package database (pure parsing; the status file is read once)

/** Packages of a dpkg status file that are installed: name → { depends, essential, priority, provides }. */
export function parseDpkgStatus(text) {
  const pkgs = new Map();
  const provides = new Map(); // virtual → [package]
  for (const stanza of text.split(/\n\n+/)) {
    const f = {};
    let key;
    for (const l of stanza.split('\n')) {
      if (/^\s/.test(l) && key) f[key] += `\n${l}`;
      else {
        const m = /^([\w-]+):\s?(.*)$/.exec(l);
        if (m) [key, f[m[1]]] = [m[1], m[2]];
      }
    }
    if (!f.Package || !/install ok (installed|unpacked|half-configured)/.test(f.Status ?? '')) continue;
    const deps = `${f['Pre-Depends'] ?? ''},${f.Depends ?? ''}`
      .split(',')
      .map((g) => g.trim())
      .filter(Boolean)
      .map((g) => g.split('|').map((a) => a.trim().split(/[\s(:]/)[0]));
    pkgs.set(f.Package, { depends: deps, essential: f.Essential === 'yes', priority: f.Priority ?? '' });
    for (const p of (f.Provides ?? '').split(',')) {
      const v = p.trim().split(/[\s(:]/)[0];
      if (v) provides.set(v, [...(provides.get(v) ?? []), f.Package]);
    }
  }
  return { pkgs, provides };
}

/**
 * What installing `roots` with --no-install-recommends brings in, judged on this machine's
 * installed packages: the roots and their Depends/Pre-Depends, recursively; of alternatives
 * (`a | b`) the first one installed (directly or by a package that provides it).
 */
export function dependsClosure(db, roots) {
  const seen = new Set();
  const resolveName = (n) => (db.pkgs.has(n) ? n : db.provides.get(n)?.find((p) => db.pkgs.has(p)));
  const queue = [...roots];
  while (queue.length > 0) {
    const name = resolveName(queue.pop());
    if (!name || seen.has(name)) continue;
    seen.add(name);
    for (const group of db.pkgs.get(name).depends) {
      const pick = group.map(resolveName).find(Boolean);
      if (pick) queue.push(pick);
    }
  }
  return seen;
}

/** Debian's base system: Essential and Priority: required packages, with their dependencies. */
export function baseSystem(db) {
  const roots = [...db.pkgs].filter(([, p]) => p.essential || p.priority === 'required').map(([n]) => n);
  return dependsClosure(db, roots);
}

// ---------------------------------------------------------------------------------------------
// The machine

function listFiles(root) {
  const out = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (!['node_modules', 'dist', 'generated', '.git'].includes(e.name)) walk(p);
      } else if (/\.(ts|mts|cts|js|mjs|cjs|sh|py)$/.test(e.name)) out.push(p);
    }
  };
  for (const d of SCAN_DIRS) walk(join(root, d));
  return out;
}

/** Every use in the tree: [{ kind, name, where: ['file:line', ...] }]. */
export function scanTree(root) {
  const uses = new Map();
  const add = (kind, name, where) => {
    const key = `${kind}\u0001${name}`;
    const u = uses.get(key) ?? { kind, name, where: [] };
    if (!u.where.includes(where)) u.where.push(where);
    uses.set(key, u);
  };
  for (const file of listFiles(root)) {
    const rel = relative(root, file);
    if (IGNORE.files[rel]) continue;
    const text = readFileSync(file, 'utf8');
    const shebang = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(text);
    if (shebang)
      add('executable', shebang[1] === '/usr/bin/env' ? (shebang[2] ?? 'env') : shebang[1], `${rel}:1`);
    if (file.endsWith('.sh')) {
      for (const c of commandsInShell(text)) add('executable', c.name, `${rel}:${c.line}`);
    } else if (file.endsWith('.py')) {
      const py = scanPython(text);
      for (const m of py.modules) add('python-module', m.name, `${rel}:${m.line}`);
      for (const t of py.typelibs) add('typelib', t.name, `${rel}:${t.line}`);
      for (const e of py.elements) add('element', e.name, `${rel}:${e.line}`);
    } else {
      const s = scanScript(file, text);
      for (const e of s.elements) add('element', e.name, `${rel}:${e.line}`);
      for (const x of s.executables) add('executable', x.name, `${rel}:${x.line}`);
    }
  }
  for (const i of IMPLICIT) add(i.kind ?? 'element', i.name, `implicit: ${i.why}`);
  return [...uses.values()].filter((u) => !IGNORE[u.kind]?.[u.name]);
}

function which(cmd) {
  if (cmd.includes('/')) return isExecutable(cmd) ? cmd : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

function isExecutable(p) {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Paths dpkg may know a file by (usr-merge: /bin/x is /usr/bin/x; symlinks resolved). */
function pathVariants(p) {
  const out = new Set([p]);
  try {
    out.add(realpathSync(p));
  } catch {
    // absent: the path itself is all there is
  }
  for (const v of [...out]) {
    if (v.startsWith('/usr/')) out.add(v.slice(4));
    else if (/^\/(bin|sbin|lib|lib64)\//.test(v)) out.add(`/usr${v}`);
  }
  return [...out];
}

/** path → package, for every path dpkg knows, in one dpkg-query call. */
async function owners(paths) {
  const out = new Map();
  if (paths.length === 0) return out;
  let stdout = '';
  try {
    ({ stdout } = await run('dpkg-query', ['-S', ...paths], { maxBuffer: 16 << 20 }));
  } catch (e) {
    stdout = e.stdout ?? ''; // exit 1 when some path belongs to no package
  }
  for (const line of stdout.split('\n')) {
    const m = /^(.+?): (\/.*)$/.exec(line);
    if (!m) continue;
    const pkg = m[1].split(',')[0].trim().replace(/:.*$/, '');
    if (!m[1].startsWith('diversion')) out.set(m[2], pkg);
  }
  return out;
}

/**
 * element → plugin file, for the elements this GStreamer has (null when absent): one listing of
 * every element's plugin, then one look per plugin for its file.
 */
async function elementFiles(names) {
  const out = new Map(names.map((n) => [n, null]));
  if (!which('gst-inspect-1.0')) return out;
  const { stdout } = await run('gst-inspect-1.0', [], { maxBuffer: 64 << 20 });
  const pluginOf = new Map();
  for (const m of stdout.matchAll(/^([\w.-]+):\s+([\w.-]+):/gm)) pluginOf.set(m[2], m[1]);
  const plugins = [...new Set(names.map((n) => pluginOf.get(n)).filter(Boolean))];
  const fileOf = new Map();
  await Promise.all(
    plugins.map(async (p) => {
      try {
        const r = await run('gst-inspect-1.0', [p], { maxBuffer: 16 << 20 });
        fileOf.set(p, /^\s*Filename\s+(\/\S+)/m.exec(r.stdout)?.[1] ?? null);
      } catch {
        fileOf.set(p, null);
      }
    }),
  );
  for (const n of names) out.set(n, fileOf.get(pluginOf.get(n)) ?? null);
  return out;
}

async function pythonModuleFiles(names) {
  const out = new Map();
  if (names.length === 0 || !isExecutable('/usr/bin/python3')) return out;
  const code =
    'import importlib.util,sys,json\nr={}\nfor n in sys.argv[1:]:\n  try:\n    s=importlib.util.find_spec(n)\n' +
    '    r[n]=(s.origin if s.origin not in (None,"built-in","frozen") else sys.executable) if s else None\n' +
    '  except Exception:\n    r[n]=None\nprint(json.dumps(r))';
  try {
    const { stdout } = await run('/usr/bin/python3', ['-c', code, ...names]);
    for (const [k, v] of Object.entries(JSON.parse(stdout))) out.set(k, v);
  } catch {
    // no usable interpreter: every module counts as absent
  }
  return out;
}

function typelibFile(name) {
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/lib64']) {
    const p = join(dir, 'girepository-1.0', `${name}.typelib`);
    if (existsSync(p)) return p;
  }
  try {
    for (const d of readdirSync('/usr/lib')) {
      const p = join('/usr/lib', d, 'girepository-1.0', `${name}.typelib`);
      if (existsSync(p)) return p;
    }
  } catch {
    // no /usr/lib
  }
  return null;
}

/**
 * Runs the whole check. Returns { uses, problems } where each problem is one printable line naming
 * the element/executable, its Debian package (or "unknown") and whether setup.sh lists it.
 */
export async function checkDeps({ root, setupPath, statusPath = '/var/lib/dpkg/status' }) {
  const listed = parseAptPackages(readFileSync(setupPath, 'utf8'));
  const setupName = relative(root, setupPath) || setupPath;
  const db = parseDpkgStatus(readFileSync(statusPath, 'utf8'));
  const installedBySetup = dependsClosure(db, listed);
  const base = baseSystem(db);
  const uses = scanTree(root);

  // Where each use lives on this machine (a file), then which package owns that file.
  const elementNames = uses.filter((u) => u.kind === 'element').map((u) => u.name);
  const moduleNames = uses.filter((u) => u.kind === 'python-module').map((u) => u.name);
  const [elFiles, pyFiles] = await Promise.all([elementFiles(elementNames), pythonModuleFiles(moduleNames)]);
  const fileOf = (u) => {
    switch (u.kind) {
      case 'element':
        return elFiles.get(u.name) ?? null;
      case 'executable':
        return which(u.name);
      case 'python-module':
        return pyFiles.get(u.name) ?? null;
      case 'typelib':
        return typelibFile(u.name);
    }
    return null;
  };
  const located = uses.map((u) => ({ ...u, file: fileOf(u) }));
  const variants = located.flatMap((u) => (u.file ? pathVariants(u.file) : []));
  const owner = await owners([...new Set(variants)]);

  const problems = [];
  for (const u of located) {
    const where =
      u.where.slice(0, 2).join(', ') + (u.where.length > 2 ? `, +${u.where.length - 2} more` : '');
    if (!u.file) {
      const pkg = KNOWN_PACKAGES[u.kind]?.[u.name] ?? 'unknown';
      const lists =
        pkg === 'unknown'
          ? ''
          : listed.includes(pkg)
            ? `; ${setupName} lists ${pkg}`
            : `; ${setupName} does not list ${pkg}`;
      problems.push(`${u.kind} ${u.name}: not installed; Debian package: ${pkg}${lists} (used at ${where})`);
      continue;
    }
    const pkg = pathVariants(u.file)
      .map((p) => owner.get(p))
      .find(Boolean);
    if (!pkg) {
      problems.push(
        `${u.kind} ${u.name}: ${u.file} belongs to no Debian package (installed by hand?); Debian package: ` +
          `${KNOWN_PACKAGES[u.kind]?.[u.name] ?? 'unknown'} (used at ${where})`,
      );
      continue;
    }
    u.package = pkg;
    if (listed.includes(pkg) || installedBySetup.has(pkg) || base.has(pkg)) continue;
    problems.push(
      `${u.kind} ${u.name}: Debian package ${pkg} (${u.file}) is installed here, but ${setupName} does not list it ` +
        `and no listed package depends on it (used at ${where})`,
    );
  }
  return { uses: located, problems, listed };
}

async function main(argv) {
  const root = resolve(
    argv.includes('--root')
      ? argv[argv.indexOf('--root') + 1]
      : join(dirname(fileURLToPath(import.meta.url)), '..'),
  );
  const setupPath = resolve(
    argv.includes('--setup') ? argv[argv.indexOf('--setup') + 1] : join(root, 'scripts/setup.sh'),
  );
  const started = Date.now();
  const { uses, problems } = await checkDeps({ root, setupPath });
  if (argv.includes('--list')) {
    for (const u of uses) console.log(`${u.kind}\t${u.name}\t${u.package ?? '-'}\t${u.where[0]}`);
  }
  const ms = Date.now() - started;
  if (problems.length > 0) {
    console.error(`[check-deps] ${problems.length} problem(s) with the system dependencies:`);
    for (const p of problems) console.error(`  ✗ ${p}`);
    console.error(
      '[check-deps] add the package to APT_PACKAGES in scripts/setup.sh and run it (or install it)',
    );
    return 1;
  }
  console.error(
    `[check-deps] ${uses.length} elements, executables, Python modules and typelibs: all from set-up's packages (${ms} ms)`,
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`[check-deps] the check itself failed: ${err?.stack ?? err}`);
      process.exit(2);
    },
  );
}
