/**
 * `vigil ask --history PATH` with a language model: the built binary, a real SQLite history file,
 * and the OpenAI-compatible stand-in (test/helpers/standins/openai.ts, which checks every request
 * against the API reference) as the model. The flags are the ones analyze/run take
 * (`--summarizer URL --summarizer-model NAME`, an API key only through the config file's
 * `inference.summarizer.apiKeyEnv`); a failing model leaves the parser's answer; bad flags are
 * typed usage errors (exit 2) that never echo a credential or a stack trace.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemsFromAnalysis, openSqliteIndex } from '../../src/history/index.js';
import { runCli } from '../helpers/run-cli.js';
import { historyRecords } from '../helpers/history-records.js';
import { startOpenAIStandIn, type OpenAIStandIn } from '../helpers/standins/openai.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const S = 'gate';
const KEY = 'sk-test-4f1d';
const QUESTION = 'when did the truck arrive?';

const { ev, sum } = historyRecords(S, T0);

const STACK = /\n\s+at .+:\d+:\d+/;

describe('vigil ask --history with --summarizer', () => {
  let dir: string;
  let history: string;
  let standin: OpenAIStandIn;

  const ask = async (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runCli(['ask', '--history', history, ...args], { timeoutMs: 60_000, env }).result;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-cli-ask-'));
    history = join(dir, 'history.sqlite');
    const index = await openSqliteIndex({ path: history });
    await index.write(
      itemsFromAnalysis(
        [
          ev(0, 'object.entered', 5, { label: 'truck', trackId: 1, count: 1 }),
          ev(1, 'object.left', 40, { label: 'truck', trackId: 1, dwellMs: 35_000 }),
          ev(2, 'text.appeared', 25, { text: 'DELIVERY BAY 4' }),
        ],
        [
          sum(0, 'A white truck arrives at the gate.', { truck: 1 }),
          sum(2, 'Text: "DELIVERY BAY 4". The truck waits.', { truck: 1 }),
        ],
      ),
    );
    await index.close();
    standin = await startOpenAIStandIn({ models: ['llm'], apiKey: KEY });
    standin.reply = () => 'The truck arrived at 0:05 [E1] and waited by bay 4 [E2, E40].';
  });

  afterAll(async () => {
    await standin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers with the model, the key from the variable the config file names, citations checked', async () => {
    const config = join(dir, 'vigil.yaml');
    writeFileSync(
      config,
      `inference:\n  summarizer: { url: ${standin.url}, model: other, apiKeyEnv: ASK_TEST_KEY, timeoutMs: 5000 }\n`,
    );
    const before = standin.chats.length;
    // The flag overrides the file's model; the file's apiKeyEnv stays.
    const r = await ask(['--config', config, '--summarizer-model', 'llm', QUESTION, '--json'], {
      ASK_TEST_KEY: KEY,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const a = JSON.parse(r.stdout) as {
      answer: string;
      evidence: { stream: string; keyframeIds: string[] }[];
      model: { model: string; used: boolean; citations: { valid: number; removed: number } };
    };
    expect(a.model).toMatchObject({ model: 'llm', used: true, citations: { valid: 2, removed: 1 } });
    expect(a.answer).toBe('The truck arrived at 0:05 [E1] and waited by bay 4 [E2].');
    expect(a.evidence).toHaveLength(2);
    expect(a.evidence.every((e) => e.stream === S)).toBe(true);
    expect(standin.chats.length).toBe(before + 1);
    const call = standin.chats.at(-1)!;
    expect(call.authorization).toBe(`Bearer ${KEY}`);
    expect(call.body.model).toBe('llm');
    expect(call.text).toContain(`Question (JSON string): ${JSON.stringify(QUESTION)}`);
    expect(standin.violations).toEqual([]);

    // Plain text: the sentence, its evidence and what the model did.
    const t = await ask(
      ['--summarizer', standin.url, '--config', config, '--summarizer-model', 'llm', QUESTION],
      {
        ASK_TEST_KEY: KEY,
      },
    );
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^The truck arrived at 0:05 \[E1\]/);
    expect(t.stdout).toMatch(/\(answered by llm, citing 2 of \d+ records retrieved\)/);
  });

  it("keeps the parser's answer when the model fails: no key, a dead server, no valid citation", async () => {
    const parser = await ask([QUESTION, '--json']);
    expect(parser.code).toBe(0);
    const base = JSON.parse(parser.stdout) as { answer: string; model?: unknown };
    expect(base.model).toBeUndefined();

    // No key: the stand-in answers 401; the parser's answer, exit 0, the key never printed.
    const noKey = await ask(['--summarizer', standin.url, '--summarizer-model', 'llm', QUESTION, '--json']);
    expect(noKey.code).toBe(0);
    expect(JSON.parse(noKey.stdout)).toMatchObject({
      answer: base.answer,
      model: { model: 'llm', used: false, fallback: 'error' },
    });

    const dead = await ask(['--summarizer', 'http://127.0.0.1:9/v1', '--summarizer-model', 'llm', QUESTION]);
    expect(dead.code).toBe(0);
    expect(dead.stdout.split('\n')[0]).toBe(base.answer);
    expect(dead.stdout).toContain("(llm not used: error; the parser's answer)");

    const config = join(dir, 'keyed.yaml');
    writeFileSync(
      config,
      `inference:\n  summarizer: { url: ${standin.url}, model: llm, apiKeyEnv: ASK_TEST_KEY }\n`,
    );
    standin.reply = () => 'It came at dawn [E77].';
    const uncited = await ask(['--config', config, QUESTION, '--json'], { ASK_TEST_KEY: KEY });
    standin.reply = () => 'The truck arrived at 0:05 [E1] and waited by bay 4 [E2, E40].';
    expect(JSON.parse(uncited.stdout)).toMatchObject({
      answer: base.answer,
      model: { used: false, fallback: 'uncited', citations: { valid: 0, removed: 1 } },
    });
  });

  it('bad flags are usage errors (exit 2), naming the flag, never a credential or a stack trace', async () => {
    const unsetKey = join(dir, 'unset.yaml');
    writeFileSync(
      unsetKey,
      `inference:\n  summarizer: { url: ${standin.url}, model: llm, apiKeyEnv: ASK_UNSET_KEY_VAR }\n`,
    );
    const cases: [string[], RegExp][] = [
      [['--summarizer', 'ftp://model.example/v1', '--summarizer-model', 'llm'], /--summarizer\.address/],
      [['--summarizer', 'http://user:hunter2@127.0.0.1:8000/v1', '--summarizer-model', 'llm'], /credentials/],
      [
        ['--summarizer', 'http://127.0.0.1:8000/v1?key=hunter2', '--summarizer-model', 'llm'],
        /credentials or query/,
      ],
      [['--summarizer', 'not a url', '--summarizer-model', 'llm'], /host:port/],
      [['--summarizer', '', '--summarizer-model', 'llm'], /--summarizer/],
      [['--summarizer', standin.url], /--summarizer needs --summarizer-model/],
      [['--summarizer-model', 'llm'], /--summarizer-model needs --summarizer/],
      [['--summarizer', standin.url, '--summarizer-model', 'x'.repeat(300)], /--summarizer\.model/],
      [['--config', unsetKey], /ASK_UNSET_KEY_VAR is not set/],
      [['--captioner', standin.url], /Unknown option '--captioner'/],
    ];
    for (const [args, message] of cases) {
      const r = await ask([...args, QUESTION]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain('hunter2');
      expect(r.stderr).not.toMatch(STACK);
    }
    // A server answers with its own model: the flags do not apply there.
    const remote = await runCli(
      [
        'ask',
        '--server',
        'http://127.0.0.1:9',
        '--summarizer',
        standin.url,
        '--summarizer-model',
        'llm',
        QUESTION,
      ],
      { timeoutMs: 30_000 },
    ).result;
    expect(remote.code).toBe(2);
    expect(remote.stderr).toMatch(/--summarizer applies to --history/);
    expect(standin.violations).toEqual([]);
    // Eleven CLI starts one after another: generous on a loaded 2-core machine.
  }, 180_000);
});
