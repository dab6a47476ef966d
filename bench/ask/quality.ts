/**
 * Question quality over real clips (one run): Recall@5 and median time error of `ask` (the parser,
 * no language model) on questions whose answers (stream time ranges) are known by construction.
 *
 * Clips, analysed with `vigil analyze`'s own session (local nats-server and inference server, OCR
 * on for the built clip) into one history directory, each run adding to DIR/history.sqlite:
 * - `walkway`: samples/vtest.avi (80 s of pedestrians);
 * - `mixed`: built here with GStreamer, six 10-second shots at 10 fps: a dog (samples/dog.jpg),
 *   the text "EXIT 12", horses (samples/horses.jpg), "DELIVERY BAY 4", a person with a dog and
 *   a horse (samples/person.jpg), "GATE CLOSED" on blue. Truths name every shot an object is in.
 *
 * Recall@5: one of the answer's first five evidence items is on the right stream and overlaps the
 * true range. Time error: |start of the first such item's range - start of the true range|
 * (the first evidence item on the right stream when none overlaps). Questions expecting nothing
 * count as recalled when the answer is empty. Three sets, reported apart:
 * - `dev`: written while looking at the parser;
 * - `used`: the first held-out set (2026-12-05); a parser change was made after seeing its
 *   results, so it no longer measures unseen questions;
 * - `used-2`: the second held-out set (2026-12-06, parser frozen at 99f382f); the parser was
 *   changed after its three misses (objects together, roll-ups over a range, parked objects);
 * - `used-3`: round 3 (2026-12-06, parser frozen at 085d34a); the parser was changed after its five
 *   misses (objects together by overlapping tracks, "say" beyond speech, look-alike labels both
 *   ways, ranges on one clock);
 * - `used-4`: round 4 (2026-12-06, parser frozen at ea0d993); the parser was changed after its two
 *   misses (presence over a range, the stream's end, the clock of bare h:mm times);
 * - `held-out`: round 5, written 2026-12-06 after the parser was frozen again (src/history/ask.ts,
 *   labels.ts, query.ts as of the commit named in the set's comment), truths worked out from the
 *   clips themselves (the shots' images and vtest.avi's frames), not from Vigil's answers; run
 *   once, never used to change the parser. The target is Recall@5 >= 0.9 on this set.
 *
 * Usage: nice -n 5 npx tsx bench/ask/quality.ts [--keep DIR [--score-only]]
 * (`--score-only` asks the questions again over DIR's history without analysing.)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runAnalysis } from '../../src/app/cli-session.js';
import { answerQuestion, openSqliteIndex, type HistoryIndex } from '../../src/history/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SAMPLES = join(ROOT, 'samples');
const keepArg = process.argv.indexOf('--keep');
const dir =
  keepArg > 0 ? resolve(process.argv[keepArg + 1]!) : mkdtempSync(join(tmpdir(), 'vigil-ask-quality-'));
if (keepArg > 0) mkdirSync(dir, { recursive: true });

const S = 10_000; // one shot of the built clip, ms
const SHOT = (i: number): [number, number] => [i * S, (i + 1) * S];

/**
 * The built clip: six 10-second shots, 640x360 at 10 fps, H.264 in MP4. A small bouncing ball in
 * a corner of every shot keeps motion in the picture, so detections run and tracks confirm on the
 * still images as they would on a camera.
 */
function buildClip(out: string): void {
  const frames = S / 100;
  const caps = 'video/x-raw,format=I420,width=640,height=360,pixel-aspect-ratio=1/1';
  const shot = (i: number, source: string) =>
    `compositor name=m${i} sink_1::xpos=560 sink_1::ypos=280 ! ${caps},framerate=10/1 ! c. ` +
    `${source} ! m${i}.sink_0 ` +
    `videotestsrc pattern=ball num-buffers=${frames} ! video/x-raw,width=80,height=80,framerate=10/1 ! m${i}.sink_1`;
  const img = (i: number, f: string) =>
    shot(
      i,
      `filesrc location=${join(SAMPLES, f)} ! jpegdec ! videoconvert ! videoscale ! ${caps} ! imagefreeze num-buffers=${frames} ! video/x-raw,framerate=10/1`,
    );
  const txt = (i: number, t: string, pattern: string) =>
    shot(
      i,
      `videotestsrc pattern=${pattern} num-buffers=${frames} ! ${caps},framerate=10/1 ! textoverlay text="${t}" font-desc="Sans Bold 48" valignment=center halignment=center`,
    );
  const desc = [
    `concat name=c ! videoconvert ! x264enc speed-preset=ultrafast key-int-max=10 ! mp4mux ! filesink location=${out}`,
    img(0, 'dog.jpg'),
    txt(1, 'EXIT 12', 'black'),
    img(2, 'horses.jpg'),
    txt(3, 'DELIVERY BAY 4', 'black'),
    img(4, 'person.jpg'),
    txt(5, 'GATE CLOSED', 'blue'),
  ].join(' ');
  execFileSync('gst-launch-1.0', ['-q', ...desc.split(' ')], { stdio: 'inherit', timeout: 60_000 });
}

type Span = [number, number];
interface Question {
  q: string;
  stream: string;
  /** The true stream-time range(s), ms; null: nothing should be found. */
  truth: Span | Span[] | null;
  set: 'dev' | 'used' | 'used-2' | 'used-3' | 'used-4' | 'held-out';
}

const W: Span = [0, 80_000];
const DOG: Span[] = [SHOT(0), SHOT(4)];
const HORSE: Span[] = [SHOT(2), SHOT(4)];
const QUESTIONS: Question[] = [
  // dev: written while reading the parser's vocabulary.
  { set: 'dev', stream: 'mixed', q: 'when did a dog appear?', truth: DOG },
  { set: 'dev', stream: 'mixed', q: 'when were horses visible?', truth: HORSE },
  { set: 'dev', stream: 'mixed', q: 'when did a person appear on mixed?', truth: SHOT(4) },
  { set: 'dev', stream: 'mixed', q: 'when did "EXIT 12" appear?', truth: SHOT(1) },
  { set: 'dev', stream: 'mixed', q: 'when did the text "delivery bay" appear?', truth: SHOT(3) },
  { set: 'dev', stream: 'mixed', q: 'when did "gate closed" show up?', truth: SHOT(5) },
  { set: 'dev', stream: 'mixed', q: 'how many horses were there?', truth: HORSE },
  { set: 'dev', stream: 'mixed', q: 'how many dogs?', truth: DOG },
  { set: 'dev', stream: 'mixed', q: 'which objects after the first cut?', truth: [S, 6 * S] },
  { set: 'dev', stream: 'mixed', q: 'what happened on mixed in the first 8 seconds?', truth: [0, 8_000] },
  { set: 'dev', stream: 'mixed', q: 'when was there text on screen?', truth: [S, 6 * S] },
  { set: 'dev', stream: 'walkway', q: 'when did people appear on walkway?', truth: W },
  { set: 'dev', stream: 'walkway', q: 'how many people were on walkway?', truth: W },
  { set: 'dev', stream: 'walkway', q: 'people on walkway between 0:30 and 0:40', truth: [30_000, 40_000] },
  { set: 'dev', stream: 'walkway', q: 'who entered walkway in the first 10 seconds?', truth: [0, 10_000] },
  { set: 'dev', stream: 'walkway', q: 'when did a person leave walkway?', truth: W },
  { set: 'dev', stream: 'walkway', q: 'what happened on walkway after 1:00?', truth: [60_000, 80_000] },
  { set: 'dev', stream: 'walkway', q: 'at least 3 people on walkway', truth: W },
  { set: 'dev', stream: 'mixed', q: 'when did a giraffe enter?', truth: null },
  { set: 'dev', stream: 'mixed', q: 'when did "platform 9" appear?', truth: null },
  // used: the first held-out set; a parser change followed its results (see the header).
  { set: 'used', stream: 'mixed', q: 'Was there a dog in the mixed clip? When?', truth: DOG },
  { set: 'used', stream: 'mixed', q: 'show me the horses', truth: HORSE },
  { set: 'used', stream: 'mixed', q: 'At what time does someone show up on mixed?', truth: SHOT(4) },
  { set: 'used', stream: 'mixed', q: 'find the sign saying "exit 12"', truth: SHOT(1) },
  {
    set: 'used',
    stream: 'mixed',
    q: 'When could you read "DELIVERY BAY 4" on the screen?',
    truth: SHOT(3),
  },
  { set: 'used', stream: 'mixed', q: 'when is "closed" written?', truth: SHOT(5) },
  { set: 'used', stream: 'mixed', q: 'any animals on mixed after 0:20?', truth: HORSE },
  { set: 'used', stream: 'mixed', q: 'list the objects seen before 0:09 on mixed', truth: SHOT(0) },
  { set: 'used', stream: 'walkway', q: 'When were pedestrians walking on walkway?', truth: W },
  { set: 'used', stream: 'walkway', q: 'How many persons at once on walkway?', truth: W },
  {
    set: 'used',
    stream: 'walkway',
    q: 'anyone on walkway between 0:50 and 0:55?',
    truth: [50_000, 55_000],
  },
  {
    set: 'used',
    stream: 'walkway',
    q: 'What was going on at walkway during the last 20 seconds of the video?',
    truth: [60_000, 80_000],
  },
  { set: 'used', stream: 'mixed', q: 'did a bus drive past?', truth: null },
  { set: 'used', stream: 'mixed', q: 'when was "no parking" shown?', truth: null },
  // used-2: the second held-out set (2026-12-06, parser frozen at 99f382f, run once at ed07e62);
  // the parser was changed after its three misses, so it no longer measures unseen questions.
  // Truths from the data:
  // shot 0 is dog.jpg (a dog, a red bicycle, a white pickup, a motorbike's edge), shot 2 horses.jpg
  // (horses only), shot 4 person.jpg (a person, a dog, a white horse); vtest.avi (79.5 s) has
  // people on the paths in every frame, people crossing the lawn in the foreground from about
  // 0:48 to 1:05, and a white van parked at the top from the first frame to the last.
  {
    set: 'used-2',
    stream: 'mixed',
    q: 'at what point did the horses first come on screen?',
    truth: SHOT(2),
  },
  { set: 'used-2', stream: 'mixed', q: 'How long was the dog on screen in mixed?', truth: DOG },
  { set: 'used-2', stream: 'mixed', q: 'when was the word "BAY" visible?', truth: SHOT(3) },
  { set: 'used-2', stream: 'mixed', q: 'was EXIT displayed on mixed, and when?', truth: SHOT(1) },
  {
    set: 'used-2',
    stream: 'mixed',
    q: 'what was on mixed between 0:40 and 0:50?',
    truth: [40_000, 50_000],
  },
  { set: 'used-2', stream: 'mixed', q: 'which animals were in mixed?', truth: [SHOT(0), SHOT(2), SHOT(4)] },
  { set: 'used-2', stream: 'mixed', q: 'did anyone appear on mixed after 0:35?', truth: SHOT(4) },
  { set: 'used-2', stream: 'mixed', q: 'when was a bicycle on screen in mixed?', truth: SHOT(0) },
  { set: 'used-2', stream: 'mixed', q: 'how many horses between 0:20 and 0:30?', truth: SHOT(2) },
  { set: 'used-2', stream: 'mixed', q: 'show a person with a horse', truth: SHOT(4) },
  { set: 'used-2', stream: 'mixed', q: 'when was a cat seen on mixed?', truth: null },
  { set: 'used-2', stream: 'mixed', q: 'was "DELIVERY" written on mixed before 0:20?', truth: null },
  {
    set: 'used-2',
    stream: 'walkway',
    q: 'How many people walked by on walkway in the first half minute?',
    truth: [0, 30_000],
  },
  { set: 'used-2', stream: 'walkway', q: 'people on walkway from 0:15 to 0:25', truth: [15_000, 25_000] },
  {
    set: 'used-2',
    stream: 'walkway',
    q: 'what happened on walkway in the final ten seconds?',
    truth: [69_500, 79_500],
  },
  { set: 'used-2', stream: 'walkway', q: 'was a car parked on walkway?', truth: [0, 79_500] },
  { set: 'used-2', stream: 'walkway', q: 'was anyone on walkway at 0:45?', truth: [45_000, 45_000] },
  { set: 'used-2', stream: 'walkway', q: 'when did a bus go by on walkway?', truth: null },
  // used-3 (round 3): written 2026-12-06 after the parser was frozen at 085d34a, run once at
  // 75b7820 (Recall@5 0.69); the parser was changed after its five misses (ask5, ea0d993), so it
  // no longer measures unseen questions. Truths from the clips themselves (the three images of the
  // built clip; vtest.avi's frames every 5 s: people on the paths in every frame, a white van and a
  // car parked at the top from the first frame to the last), not Vigil's answers.
  {
    set: 'used-3',
    stream: 'mixed',
    q: 'Did a dog and a person appear together on mixed?',
    truth: SHOT(4),
  },
  { set: 'used-3', stream: 'mixed', q: 'was there a bicycle next to a dog?', truth: SHOT(0) },
  { set: 'used-3', stream: 'mixed', q: 'when did the screen say GATE CLOSED?', truth: SHOT(5) },
  { set: 'used-3', stream: 'mixed', q: 'Was "EXIT 12" shown after 0:30?', truth: null },
  { set: 'used-3', stream: 'mixed', q: 'what was written between 0:30 and 0:40?', truth: SHOT(3) },
  { set: 'used-3', stream: 'mixed', q: 'When was a horse beside a person?', truth: SHOT(4) },
  {
    set: 'used-3',
    stream: 'mixed',
    q: 'how many dogs appeared in the first 15 seconds on mixed?',
    truth: SHOT(0),
  },
  { set: 'used-3', stream: 'mixed', q: 'was a truck visible on mixed?', truth: SHOT(0) },
  { set: 'used-3', stream: 'mixed', q: 'which animals appeared after 0:35 on mixed?', truth: SHOT(4) },
  { set: 'used-3', stream: 'mixed', q: 'did anything say DELIVERY on mixed?', truth: SHOT(3) },
  { set: 'used-3', stream: 'mixed', q: 'was a giraffe with a person on mixed?', truth: null },
  {
    set: 'used-3',
    stream: 'walkway',
    q: 'Was a van parked on walkway the whole time?',
    truth: [0, 79_500],
  },
  {
    set: 'used-3',
    stream: 'walkway',
    q: 'people crossing the grass on walkway between 0:50 and 1:00',
    truth: [50_000, 60_000],
  },
  {
    set: 'used-3',
    stream: 'walkway',
    q: 'how many people were on walkway during the first 20 seconds?',
    truth: [0, 20_000],
  },
  { set: 'used-3', stream: 'walkway', q: 'was a horse on walkway?', truth: null },
  {
    set: 'used-3',
    stream: 'walkway',
    q: 'what happened on walkway from 0:30 to 0:35?',
    truth: [30_000, 35_000],
  },
  // used-4 (round 4): written 2026-12-06 after the parser was frozen at ea0d993 (ask.ts,
  // labels.ts, query.ts; sql.ts changed after only for PostgreSQL), run once at c1f34ad (Recall@5
  // 0.89); the parser was changed after its two misses (ask6, 92ee4e9), so it no longer measures
  // unseen questions. Truths from the clips as built (shot 0 a dog, a red bicycle and
  // a white pickup; shot 1 "EXIT 12"; shot 2 horses; shot 3 "DELIVERY BAY 4"; shot 4 a person, a
  // dog and a white horse; shot 5 "GATE CLOSED"; vtest.avi: people on the paths in every frame,
  // people crossing the lawn 0:48-1:05, a white van and a car parked at the top throughout).
  {
    set: 'used-4',
    stream: 'mixed',
    q: 'what animals could be seen on mixed between 0:15 and 0:35?',
    truth: SHOT(2),
  },
  {
    set: 'used-4',
    stream: 'mixed',
    q: 'were the horse and the dog ever on screen at the same time on mixed?',
    truth: SHOT(4),
  },
  { set: 'used-4', stream: 'mixed', q: 'did a person show up with a dog on mixed?', truth: SHOT(4) },
  { set: 'used-4', stream: 'mixed', q: 'was a cat next to a person on mixed?', truth: null },
  { set: 'used-4', stream: 'mixed', q: 'how many horses were visible at once on mixed?', truth: SHOT(2) },
  { set: 'used-4', stream: 'mixed', q: 'how long was the bicycle on mixed?', truth: SHOT(0) },
  { set: 'used-4', stream: 'mixed', q: 'at what time did the horses leave mixed?', truth: HORSE },
  { set: 'used-4', stream: 'mixed', q: 'what did the sign say at 0:35 on mixed?', truth: SHOT(3) },
  { set: 'used-4', stream: 'mixed', q: 'when did the word GATE appear on mixed?', truth: SHOT(5) },
  { set: 'used-4', stream: 'mixed', q: 'did the screen ever read "PARKING FULL"?', truth: null },
  { set: 'used-4', stream: 'mixed', q: 'what was on mixed from 0:20 to 30s?', truth: [20_000, 30_000] },
  {
    set: 'used-4',
    stream: 'mixed',
    q: 'which objects appeared on mixed in the last 15 seconds of the video?',
    truth: [45_000, 50_000],
  },
  {
    set: 'used-4',
    stream: 'walkway',
    q: 'how many people on walkway between 1:00 and 1:10?',
    truth: [60_000, 70_000],
  },
  { set: 'used-4', stream: 'walkway', q: 'were any vehicles parked on walkway?', truth: [0, 79_500] },
  {
    set: 'used-4',
    stream: 'walkway',
    q: 'what is the largest number of pedestrians seen together on walkway?',
    truth: W,
  },
  {
    set: 'used-4',
    stream: 'walkway',
    q: 'was anyone crossing the lawn on walkway between 00:00:48 and 1 minute 5 seconds?',
    truth: [48_000, 65_000],
  },
  { set: 'used-4', stream: 'walkway', q: 'when did a motorbike appear on walkway?', truth: null },
  { set: 'used-4', stream: 'walkway', q: 'how long did the truck stay on walkway?', truth: [0, 79_500] },
  // held-out (round 5): written 2026-12-06 after the parser was frozen at 92ee4e9 (ask.ts,
  // labels.ts, query.ts, records.ts), never asked before, run once, not used to change the parser.
  // Truths from the clips as built (shot 0 a dog, a red bicycle and a white pickup; shot 1
  // "EXIT 12"; shot 2 horses; shot 3 "DELIVERY BAY 4"; shot 4 a person, a dog and a white horse;
  // shot 5 "GATE CLOSED"; no sound) and vtest.avi (79.5 s, people on the paths in every frame, a
  // white van and a car parked at the top throughout, no sound, no dogs).
  { set: 'held-out', stream: 'mixed', q: 'which animals were on mixed before 0:08?', truth: [0, 8_000] },
  {
    set: 'held-out',
    stream: 'mixed',
    q: 'how many horses were on mixed between 25 and 35 seconds?',
    truth: [25_000, 30_000],
  },
  { set: 'held-out', stream: 'mixed', q: 'when was the text "BAY 4" on screen?', truth: SHOT(3) },
  { set: 'held-out', stream: 'mixed', q: 'how long was the person visible on mixed?', truth: SHOT(4) },
  { set: 'held-out', stream: 'mixed', q: 'was there a bicycle and a car together on mixed?', truth: SHOT(0) },
  {
    set: 'held-out',
    stream: 'mixed',
    q: 'what text appeared on mixed between 0:45 and 1:00?',
    truth: [50_000, 60_000],
  },
  { set: 'held-out', stream: 'mixed', q: 'did EXIT show on mixed after 0:40?', truth: null },
  { set: 'held-out', stream: 'mixed', q: 'when did the first horse appear on mixed?', truth: SHOT(2) },
  { set: 'held-out', stream: 'mixed', q: 'was a sheep on mixed?', truth: null },
  { set: 'held-out', stream: 'mixed', q: 'did anyone say "good morning" on mixed?', truth: null },
  { set: 'held-out', stream: 'mixed', q: 'when did the dog leave mixed?', truth: DOG },
  {
    set: 'held-out',
    stream: 'walkway',
    q: 'how many people were on walkway 1:05-1:15?',
    truth: [65_000, 75_000],
  },
  {
    set: 'held-out',
    stream: 'walkway',
    q: 'which vehicles were on walkway in the last 10 seconds of the video?',
    truth: [69_500, 79_500],
  },
  {
    set: 'held-out',
    stream: 'walkway',
    q: 'was anybody walking on walkway at 0:33?',
    truth: [33_000, 33_000],
  },
  {
    set: 'held-out',
    stream: 'walkway',
    q: 'how long was the white van parked on walkway?',
    truth: [0, 79_500],
  },
  {
    set: 'held-out',
    stream: 'walkway',
    q: 'what happened on walkway from 00:00:10 to 00:00:20?',
    truth: [10_000, 20_000],
  },
  {
    set: 'held-out',
    stream: 'walkway',
    q: 'were there a person and a car at the same time on walkway?',
    truth: [0, 79_500],
  },
  { set: 'held-out', stream: 'walkway', q: 'did a dog walk through walkway?', truth: null },
  { set: 'held-out', stream: 'walkway', q: 'was "EXIT 12" shown on walkway?', truth: null },
];

async function analyse(source: string, streamId: string, ocr: boolean): Promise<void> {
  const t = Date.now();
  const code = await runAnalysis({
    source,
    streamId,
    live: false,
    windowMs: 3_000,
    json: true,
    print: () => undefined,
    log: () => undefined,
    reportDir: dir,
    printMessages: false,
    progress: false,
    ocr,
    vad: false,
    nats: { servers: null },
    stopSignal: new Promise<void>(() => undefined),
  });
  if (code !== 0) throw new Error(`analyze ${source} exited ${code}`);
  console.log(
    `analysed ${streamId} (${source.replace(`${ROOT}/`, '')}) in ${((Date.now() - t) / 1000).toFixed(1)} s`,
  );
}

interface Scored extends Question {
  recalled: boolean;
  errorMs: number | null;
  answer: string;
  ms: number;
}

async function score(index: HistoryIndex, question: Question): Promise<Scored> {
  const t = performance.now();
  const a = await answerQuestion(index, question.q);
  const ms = performance.now() - t;
  const top = a.evidence.slice(0, 5).filter((e) => e.stream === question.stream);
  if (question.truth === null) {
    return { ...question, recalled: a.empty, errorMs: null, answer: a.answer, ms };
  }
  const spans: Span[] =
    typeof question.truth[0] === 'number' ? [question.truth as Span] : (question.truth as Span[]);
  const overlaps = (x: { startMs: number; endMs: number }) =>
    spans.some(([s, e]) => x.startMs <= e && x.endMs >= s);
  const hit = top.find(overlaps);
  const first = hit ?? top[0];
  return {
    ...question,
    recalled: hit !== undefined,
    errorMs: first ? Math.min(...spans.map(([s]) => Math.abs(first.startMs - s))) : null,
    answer: a.answer,
    ms,
  };
}

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

try {
  if (process.argv.includes('--score-only')) {
    console.log(`scoring the history already in ${dir} (no analysis)`);
  } else {
    const clip = join(dir, 'mixed.mp4');
    buildClip(clip);
    await analyse(clip, 'mixed', true);
    await analyse(join(SAMPLES, 'vtest.avi'), 'walkway', false);
  }
  const index = await openSqliteIndex({ path: join(dir, 'history.sqlite'), readonly: true });
  try {
    console.log(`history: ${JSON.stringify(await index.stats())}, ${QUESTIONS.length} questions`);
    console.log('| set | question | truth s | recalled | time error s | answer |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    const results: Scored[] = [];
    for (const q of QUESTIONS) {
      const r = await score(index, q);
      results.push(r);
      const spans =
        q.truth === null ? [] : typeof q.truth[0] === 'number' ? [q.truth as Span] : (q.truth as Span[]);
      const truth = spans.length > 0 ? spans.map(([a, b]) => `${a / 1000}-${b / 1000}`).join(', ') : 'none';
      console.log(
        `| ${q.set} | ${q.q} | ${truth} | ${r.recalled ? 'yes' : 'NO'} | ${r.errorMs === null ? '-' : (r.errorMs / 1000).toFixed(1)} | ${r.answer.slice(0, 110).replace(/\|/g, '/')} |`,
      );
    }
    console.log('| set | questions | Recall@5 | median time error s | median ask ms |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const set of ['dev', 'used', 'used-2', 'used-3', 'used-4', 'held-out', 'all'] as const) {
      const rs = results.filter((r) => set === 'all' || r.set === set);
      const recall = rs.filter((r) => r.recalled).length / rs.length;
      const errs = rs.flatMap((r) => (r.errorMs === null ? [] : [r.errorMs / 1000]));
      console.log(
        `| ${set} | ${rs.length} | ${recall.toFixed(2)} | ${median(errs).toFixed(1)} | ${median(rs.map((r) => r.ms)).toFixed(1)} |`,
      );
    }
    console.log('target: Recall@5 >= 0.90 on the held-out set');
  } finally {
    await index.close();
  }
} finally {
  if (keepArg < 0) rmSync(dir, { recursive: true, force: true });
}
