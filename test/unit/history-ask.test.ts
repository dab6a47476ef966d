import { describe, expect, it } from 'vitest';
import { formatStreamTime, parseQuestion, MAX_QUESTION_CHARS } from '../../src/history/ask.js';
import { DETECTOR_LABELS, findLabels, labelNoun, labelsForWord } from '../../src/history/labels.js';
import { HistoryError } from '../../src/history/query.js';
import { answerQuestion } from '../../src/history/ask.js';
import { openSqliteIndex } from '../../src/history/sqlite.js';
import type { HistoryRecord } from '../../src/history/records.js';
import { recordFromMessage, keyframeFromMessage } from '../../src/history/records.js';

const NOW = new Date(2026, 11, 5, 12, 0, 0).getTime();
const at = (h: number, m: number) => new Date(2026, 11, 5, h, m, 0).getTime();
const parse = (q: string) => parseQuestion(q, { now: NOW, knownStreams: ['camera3', 'door', 'vtest'] });

describe('labels', () => {
  it.each([
    ['people', ['person']],
    ['pedestrians', ['person']],
    ['someone', ['person']],
    ['cars', ['car', 'truck']],
    ['car', ['car', 'truck']],
    ['van', ['car', 'truck']],
    ['vehicles', ['car', 'truck', 'bus', 'motorcycle']],
    ['buses', ['bus']],
    ['bikes', ['bicycle', 'motorcycle']],
    ['dogs', ['dog']],
    ['lorries', ['truck', 'car']],
    ['truck', ['truck', 'car']],
    ['pickup', ['truck', 'car']],
    ['tables', ['dining table']],
    ['umbrellas', ['umbrella']],
    ['cloud', []],
  ])('%s → %j', (word, labels) => expect(labelsForWord(word)).toEqual(labels));

  it('reads look-alikes both ways, each label first for its own name', () => {
    for (const a of DETECTOR_LABELS) {
      const found = labelsForWord(a.includes(' ') ? a.split(' ').join('') : a);
      const labels = a.includes(' ') ? findLabels(a)[0]!.labels : found;
      expect(labels[0]).toBe(a);
      // Symmetric: a word for one label that finds another is matched by that label's word too.
      for (const b of labels.slice(1)) expect(findLabels(b)[0]!.labels).toContain(a);
    }
    expect(findLabels('a truck')[0]).toMatchObject({ labels: ['truck', 'car'], named: ['truck'] });
    expect(findLabels('a car')[0]).toMatchObject({ labels: ['car', 'truck'], named: ['car'] });
    // A group word names its whole family; a member does not name the group's other members.
    expect(findLabels('vehicles')[0]!.named).toEqual(['car', 'truck', 'bus', 'motorcycle']);
    expect(labelsForWord('truck')).not.toContain('bus');
  });

  it('finds multi-word classes before single words', () => {
    expect(
      findLabels('two stop signs and a traffic light near a cell phone').map((f) => f.labels[0]),
    ).toEqual(['stop sign', 'traffic light', 'cell phone']);
    expect(labelNoun('person', 3)).toBe('people');
    expect(labelNoun('bus', 2)).toBe('buses');
  });
});

describe('question parser', () => {
  it.each([
    ['How many people were there?', { intent: 'count', labels: ['person'] }],
    [
      'When did a truck stop at the gate?',
      {
        intent: 'when',
        labels: ['truck', 'car'],
        namedLabels: ['truck'],
        softZones: ['gate'],
        minDwellMs: 3000,
      },
    ],
    ['how long did the car stay?', { intent: 'duration', labels: ['car', 'truck'] }],
    ['Which objects did you see?', { intent: 'which' }],
    ['what happened?', { intent: 'what' }],
    ['When did the first person enter?', { intent: 'when', pick: 'first', types: ['object.entered'] }],
    ['when was the last cut', { intent: 'when', pick: 'last', types: ['scene.cut', 'shot'] }],
    ['cars', { intent: 'find', labels: ['car', 'truck'] }],
  ])('%s', (q, expected) => expect(parse(q)).toMatchObject(expected));

  it('reads time expressions', () => {
    expect(parse('people in the last hour')).toMatchObject({ clock: 'wall', from: NOW - 3_600_000, to: NOW });
    // The end of the recording, not of the clock.
    expect(parse('what happened during the last 20 seconds of the video?')).toMatchObject({
      clock: 'stream',
      from: null,
      to: null,
      fromEndMs: 20_000,
    });
    expect(parse('people in the last hour').fromEndMs).toBeUndefined();
    expect(parse('cars in the past 10 minutes')).toMatchObject({
      clock: 'wall',
      from: NOW - 600_000,
      to: NOW,
    });
    expect(parse('what happened between 10:00 and 10:05?')).toMatchObject({
      clock: 'wall',
      from: at(10, 0),
      to: at(10, 5),
    });
    expect(parse('what happened between 2pm and 3 pm')).toMatchObject({
      clock: 'wall',
      from: at(14, 0) - 86_400_000,
      to: at(15, 0) - 86_400_000,
    });
    expect(parse('people between 0:10 and 0:20')).toMatchObject({
      clock: 'stream',
      from: 10_000,
      to: 20_000,
    });
    expect(parse('people between 1:10 and 1:20 in the video')).toMatchObject({
      clock: 'stream',
      from: 70_000,
      to: 80_000,
    });
    expect(parse('which objects in the first minute')).toMatchObject({
      clock: 'stream',
      from: 0,
      to: 60_000,
    });
    expect(parse('people in the first 30 seconds')).toMatchObject({ clock: 'stream', from: 0, to: 30_000 });
    expect(parse('cars after 30 seconds')).toMatchObject({ clock: 'stream', from: 30_000, to: null });
    expect(parse('cars before 0:45')).toMatchObject({ clock: 'stream', from: null, to: 45_000 });
    expect(parse('who was there at 0:30')).toMatchObject({ clock: 'stream', from: 25_000, to: 35_000 });
    // A time of day later than now is yesterday's.
    expect(parse('people after 23:00')).toMatchObject({ clock: 'wall', from: at(23, 0) - 86_400_000 });
    expect(parse('people today')).toMatchObject({ clock: 'wall', from: at(0, 0), to: NOW });
  });

  it('reads ranges with mixed clock formats and other common phrasings as one clock', () => {
    const stream = (from: number, to: number) => ({ clock: 'stream', from, to });
    for (const [q, from, to] of [
      ['people between 0:50 and 1:00', 50_000, 60_000],
      ['people from 50s to 1:05', 50_000, 65_000],
      ['people between 00:00:50 and 1 minute', 50_000, 60_000],
      ['people between 50 and 60 seconds', 50_000, 60_000],
      ['cars from 1 to 2 minutes', 60_000, 120_000],
      ['people 0:50-1:00', 50_000, 60_000],
      ['people 0:50 to 1:05', 50_000, 65_000],
      ['people after 0:50 and before 1:00', 50_000, 60_000],
      ['people between 1 minute and 1 minute 30 seconds', 60_000, 90_000],
      ['people between 1m05s and 1m10s', 65_000, 70_000],
      ['people from minute 1 to minute 2', 60_000, 120_000],
      ['people from the 30 second mark to the 45 second mark', 30_000, 45_000],
    ] as const) {
      expect(parse(q), q).toMatchObject(stream(from, to));
    }
    // Two times of day stay wall-clock times.
    expect(parse('people between 10:00 and 10:05')).toMatchObject({
      clock: 'wall',
      from: at(10, 0),
      to: at(10, 5),
    });
    expect(parse('people after 10:00 and before 11:30')).toMatchObject({
      clock: 'wall',
      from: at(10, 0),
      to: at(11, 30),
    });
  });

  it('keeps the stream-time reading of bare h:mm times read as times of day', () => {
    expect(parse('how many people on walkway between 1:00 and 1:10?')).toMatchObject({
      clock: 'wall',
      from: at(1, 0),
      to: at(1, 10),
      streamReading: { from: 60_000, to: 70_000 },
    });
    expect(parse('what happened after 1:00?').streamReading).toEqual({ from: 60_000, to: null });
    expect(parse('people at 2:30').streamReading).toEqual({ from: 145_000, to: 155_000 });
    // Already stream time, or a time of day by its words: no second reading.
    expect(parse('people between 0:50 and 1:00').streamReading).toBeUndefined();
    expect(parse('people between 1:00 and 1:10 this morning').streamReading).toBeUndefined();
    expect(parse('people after 3pm').streamReading).toBeUndefined();
    expect(parse('people in the last hour').streamReading).toBeUndefined();
  });

  it('reads "appeared" over a range as present in it, not entering in it', () => {
    expect(parse('which objects appeared in the last 15 seconds of the video?').types).toEqual([]);
    expect(parse('which animals showed up between 0:40 and 0:50?').types).toEqual([]);
    // No range: the entry. Enter over a range: still the entry.
    expect(parse('when did a dog appear?').types).toEqual(['object.entered']);
    expect(parse('who entered in the first 10 seconds?').types).toEqual(['object.entered']);
  });

  it('reads "say" as words heard or read: transcripts, OCR text and captions, not speech alone', () => {
    const words = ['transcript', 'speech', 'ocr', 'text.appeared', 'caption'];
    expect(parse('what was said between 0:30 and 0:40?')).toMatchObject({ intent: 'what', wordsAsked: true });
    expect(parse('what was said between 0:30 and 0:40?').types.sort()).toEqual([...words].sort());
    expect(parse('what does the sign say?').types.sort()).toEqual([...words].sort());
    // The man is who spoke, not a label the transcript carries.
    expect(parse('what did the man say?')).toMatchObject({ wordsAsked: true, labels: ['person'] });
    // With the words given, they are searched wherever they were kept.
    expect(parse('when did the screen say GATE CLOSED?')).toMatchObject({
      text: [['gate', 'closed']],
      types: [],
    });
    expect(parse('did anything say "DELIVERY"?').types).toEqual([]);
    // Speech words still mean speech.
    expect(parse('when did someone talk about "parking"?').types).toEqual(['speech', 'transcript']);
  });

  it('reads anchors, counts, dwell, quoted text, zones and streams', () => {
    expect(parse('people after the first cut')).toMatchObject({
      anchors: [{ side: 'after', which: 'first', what: 'cut' }],
      types: [],
    });
    expect(parse('when were at least 3 people visible')).toMatchObject({ minCount: 3 });
    expect(parse('when were more than two cars there')).toMatchObject({ minCount: 3 });
    expect(parse('when did someone stay longer than 10 seconds in zone door')).toMatchObject({
      minDwellMs: 10_000,
      zones: ['door'],
    });
    expect(parse('anything in the loading area?')).toMatchObject({ zones: ['loading'] });
    expect(parse('when did "EXIT 12" appear?')).toMatchObject({ text: [['exit', '12']], types: [] });
    expect(parse('what happened on camera 3?').streams).toEqual(['camera3']);
    expect(parse('cars at the door').streams).toEqual(['door']);
    expect(parse('what happened on camera 4?').streams).toEqual([]);
  });

  it('reads objects asked for together as groups all required on one record', () => {
    expect(parse('show a person with a horse')).toMatchObject({
      labels: ['person', 'horse'],
      labelGroups: [['person'], ['horse']],
    });
    expect(parse('when were dogs and horses on screen together?').labelGroups).toEqual([['dog'], ['horse']]);
    expect(parse('a man riding a bike').labelGroups).toEqual([['person'], ['bicycle', 'motorcycle']]);
    // Two objects without a word that puts them together: either one.
    expect(parse('when did a dog or a horse appear?').labelGroups).toEqual([]);
    expect(parse('how many people and people?').labelGroups).toEqual([]);
  });

  it('reads unquoted ALL-CAPS words as text on screen, not labels, streams or AM/PM', () => {
    expect(parse('was EXIT displayed on mixed, and when?')).toMatchObject({ text: [['exit']], types: [] });
    expect(parse('when was GATE CLOSED shown?').text).toEqual([['gate', 'closed']]);
    expect(parse('when did EXIT 12 appear?').text).toEqual([['exit', '12']]);
    expect(parse('was "BAY" or EXIT shown?').text).toEqual([['bay'], ['exit']]);
    expect(parse('HOW MANY PEOPLE WERE THERE?')).toMatchObject({
      text: [],
      intent: 'count',
      labels: ['person'],
    });
    expect(parse('was a CAR on VTEST at 10 AM?')).toMatchObject({ text: [], labels: ['car', 'truck'] });
    expect(parse('was a CAR on VTEST at 10 AM?').streams).toEqual(['vtest']);
    expect(parse('people after 0:30').text).toEqual([]);
  });

  it('takes any language and any bytes without throwing, up to the bound', () => {
    for (const q of [
      '¿Cuántas personas?',
      '人は何人いましたか',
      '\u0000\u202e"\'; DROP TABLE',
      '"'.repeat(1999),
      '😀'.repeat(500),
    ]) {
      expect(() => parse(q)).not.toThrow();
    }
    expect(() => parse('x'.repeat(MAX_QUESTION_CHARS + 1))).toThrow(HistoryError);
  });

  it('formats stream time', () => {
    expect(formatStreamTime(0)).toBe('0:00');
    expect(formatStreamTime(65_000)).toBe('1:05');
    expect(formatStreamTime(3_725_500)).toBe('1:02:05.5');
  });
});

describe('records from published messages', () => {
  const ce = (data: Record<string, unknown>) => ({
    specversion: '1.0',
    id: data.id,
    time: '2026-12-05T10:00:00Z',
    data,
  });

  it('reads an object.left event: range from entry to exit, dwell, label, evidence', () => {
    const r = recordFromMessage(
      'vigil.door.event.object.left',
      ce({
        id: 'door:object.left:0',
        type: 'object.left',
        streamId: 'door',
        timeMs: 1_000,
        ptsNs: 9e9,
        severity: 'info',
        data: { trackId: 1, label: 'person', enteredPtsNs: 2e9, lastSeenPtsNs: 8e9, dwellMs: 6000 },
        evidence: {
          streamId: 'door',
          keyframeId: 'door:40',
          ptsNs: 8e9,
          timeMs: 1,
          boxes: [],
          image: { name: 'door/door:40.jpg' },
        },
      }),
    );
    expect(r).toMatchObject({
      kind: 'event',
      type: 'object.left',
      startMs: 2000,
      endMs: 9000,
      dwellMs: 6000,
      labels: ['person'],
    });
    expect(r).toMatchObject({ keyframeIds: ['door:40'], evidence: 'door/door:40.jpg' });
  });

  it('a window without frames gets the message time as its wall time, not a 1970 one', () => {
    const r = recordFromMessage(
      'vigil.mixed.summary.window',
      ce({
        id: 'mixed:window:7',
        level: 'window',
        streamId: 'mixed',
        startPtsNs: 21e9,
        endPtsNs: 24e9,
        startTimeMs: 0,
        endTimeMs: 0,
        text: 'No analysis available.',
      }),
    );
    expect(r).toMatchObject({ startMs: 21_000, endMs: 24_000 });
    expect(r!.wallStartMs).toBe(Date.parse('2026-12-05T10:00:00Z'));
    expect(r!.wallEndMs).toBe(r!.wallStartMs);
  });

  it('reads kinds it has never seen by field names (object, shot, caption, transcript)', () => {
    const obj = recordFromMessage(
      'vigil.a.object',
      ce({
        id: 'o1',
        label: 'Car',
        startPtsNs: 1e9,
        endPtsNs: 5e9,
        startTimeMs: 5,
        zones: ['Gate'],
        best: { keyframeId: 'a:3' },
      }),
    );
    expect(obj).toMatchObject({
      kind: 'object',
      type: 'object',
      labels: ['car'],
      zones: ['gate'],
      dwellMs: 4000,
      keyframeIds: ['a:3'],
    });
    const cap = recordFromMessage(
      'vigil.a.caption',
      ce({ id: 'c1', caption: 'A red truck at the gate', ptsNs: 3e9, captureTimeMs: 5, keyframeId: 'a:7' }),
    );
    expect(cap).toMatchObject({
      kind: 'caption',
      text: 'A red truck at the gate',
      startMs: 3000,
      keyframeIds: ['a:7'],
    });
    const tr = recordFromMessage(
      'vigil.a.transcript',
      ce({ id: 't1', startPtsNs: 0, endPtsNs: 2e9, segments: [{ text: 'hello' }, { text: 'there' }] }),
    );
    expect(tr).toMatchObject({ kind: 'transcript', text: 'hello \u2022 there', endMs: 2000 });
  });

  it('skips what is not history and never throws on odd input', () => {
    for (const [s, b] of [
      ['vigil.a.status', ce({ id: 'x', state: 'running' })],
      ['vigil.ctl.search', ce({ id: 'x' })],
      ['other.a.event.x', ce({ id: 'x' })],
      ['vigil.a.event.x', null],
      ['vigil.a.event.x', 'text'],
      ['vigil.a.event.x', { data: { type: 'x' } }],
      ['vigil.a.event.x', { data: [] }],
    ] as const) {
      expect(recordFromMessage(s, b)).toBeNull();
    }
    expect(
      keyframeFromMessage('vigil.a.detections', {
        data: { keyframeId: 'a:1', ptsNs: 1e9, captureTimeMs: 1, detections: [{ label: 'Dog' }] },
      }),
    ).toMatchObject({
      id: 'a:1',
      labels: ['dog'],
      timeMs: 1000,
    });
  });
});

describe('answers from an index', () => {
  const T0 = Date.UTC(2026, 11, 6, 10, 0, 0);
  let n = 0;
  const rec = (
    stream: string,
    kind: string,
    type: string,
    s: number,
    e: number,
    o: Partial<HistoryRecord> = {},
  ) => ({
    record: {
      id: `r${n++}`,
      stream,
      kind,
      type,
      startMs: s * 1000,
      endMs: e * 1000,
      wallStartMs: T0 + s * 1000,
      wallEndMs: T0 + e * 1000,
      labels: [],
      zones: [],
      count: null,
      counts: {},
      dwellMs: null,
      text: '',
      keyframeIds: [`${stream}:${s}`],
      evidence: null,
      ...o,
    } satisfies HistoryRecord,
  });
  const fill = async () => {
    const index = await openSqliteIndex({ path: ':memory:' });
    await index.write([
      rec('mixed', 'summary', 'window', 0, 3, { labels: ['dog'], count: 1, counts: { dog: 1 } }),
      rec('mixed', 'summary', 'window', 20, 23, { labels: ['horse'], count: 3, counts: { horse: 3 } }),
      rec('mixed', 'event', 'text.appeared', 30, 30, { text: 'DELIVERY BAY 4' }),
      rec('mixed', 'summary', 'segment', 0, 45, { text: 'A dog, then EXIT 12, horses and DELIVERY BAY 4.' }),
      rec('mixed', 'summary', 'window', 42, 45, {
        labels: ['person', 'dog', 'horse'],
        count: 1,
        counts: { person: 1, dog: 1, horse: 1 },
      }),
      // The newest person records are on another stream, without a horse.
      rec('walkway', 'event', 'object.entered', 1, 1, { labels: ['truck'], count: 1 }),
      rec('walkway', 'event', 'object.entered', 2, 2, { labels: ['person'], count: 1 }),
      rec('walkway', 'event', 'object.left', 2, 4, { labels: ['person'], dwellMs: 2_000 }),
      rec('walkway', 'object', 'object', 2, 4, { labels: ['person'], dwellMs: 2_000 }),
      rec('walkway', 'summary', 'window', 76, 79, {
        labels: ['person', 'truck'],
        count: 4,
        counts: { person: 3, truck: 1 },
      }),
    ]);
    return index;
  };

  it('finds objects together on one record, not either alone', async () => {
    const index = await fill();
    const a = await answerQuestion(index, 'show a person with a horse');
    expect(a.empty).toBe(false);
    expect(a.evidence[0]).toMatchObject({ stream: 'mixed', startMs: 42_000 });
    expect(a.evidence.every((e) => e.stream === 'mixed')).toBe(true);
    expect(a.searched.description).toMatch(/person together with horse/);
    await index.close();
  });

  it('counts a record in a range only when it lies mostly inside it (a roll-up over it is not evidence)', async () => {
    const index = await fill();
    const before = await answerQuestion(index, 'was "DELIVERY" written on mixed before 0:20?');
    expect(before).toMatchObject({ empty: true, evidence: [] });
    const after = await answerQuestion(index, 'was "DELIVERY" written on mixed after 0:25?');
    expect(after.evidence[0]).toMatchObject({ startMs: 30_000 });
    const caps = await answerQuestion(index, 'when was DELIVERY shown on mixed?');
    expect(caps.evidence.some((e) => e.startMs === 30_000)).toBe(true);
    await index.close();
  });

  it('an object that never left stays until the end of the stream (parked, how long)', async () => {
    const index = await fill();
    const parked = await answerQuestion(index, 'was a car parked on walkway?');
    expect(parked.empty).toBe(false);
    expect(parked.evidence[0]).toMatchObject({ stream: 'walkway', startMs: 1_000, endMs: 79_000 });
    const van = await answerQuestion(index, 'how long did the van stay on walkway?');
    expect(van.answer).toMatch(/truck for 78\.0 s/);
    // The person left after 2 s: closed, not open, and too short for "waited".
    const waited = await answerQuestion(index, 'did a person wait on walkway?');
    expect(waited.empty).toBe(true);
    await index.close();
  });
  it('finds objects together where one track of each overlaps, whatever the verb', async () => {
    const index = await openSqliteIndex({ path: ':memory:' });
    await index.write([
      // A dog from 40 s to 43 s and a person from 41 s to 44 s: no record holds both labels.
      rec('yard', 'event', 'object.entered', 40, 40, { labels: ['dog'], count: 1 }),
      rec('yard', 'event', 'object.left', 40, 43, { labels: ['dog'], dwellMs: 3_000 }),
      rec('yard', 'event', 'object.entered', 41, 41, { labels: ['person'], count: 1 }),
      rec('yard', 'event', 'object.left', 41, 44, { labels: ['person'], dwellMs: 3_000 }),
      // A bicycle tracked from 0 s, its entry reported at 5.3 s, gone at 7 s: closed, not parked.
      rec('yard', 'event', 'object.entered', 5.3, 5.3, { labels: ['bicycle'], count: 1 }),
      rec('yard', 'event', 'object.left', 0, 7, { labels: ['bicycle'], dwellMs: 5_300 }),
      rec('yard', 'summary', 'window', 90, 93, { labels: ['cat'], count: 1, counts: { cat: 1 } }),
    ]);
    const a = await answerQuestion(index, 'Did a dog and a person appear together on yard?');
    expect(a.empty).toBe(false);
    expect(a.evidence[0]).toMatchObject({ stream: 'yard', startMs: 41_000, endMs: 43_000 });
    const when = await answerQuestion(index, 'when were a dog and a person on yard at the same time?');
    expect(when.evidence[0]).toMatchObject({ startMs: 41_000, endMs: 43_000 });
    // Never at the same time: nothing.
    expect((await answerQuestion(index, 'was a bicycle next to a dog on yard?')).empty).toBe(true);
    expect((await answerQuestion(index, 'did a cat and a dog appear together?')).empty).toBe(true);
    await index.close();
  });

  it('"say" searches on-screen text and captions as well as transcripts', async () => {
    const index = await openSqliteIndex({ path: ':memory:' });
    await index.write([
      rec('lobby', 'event', 'text.appeared', 10, 10, { text: 'NO ENTRY' }),
      rec('lobby', 'transcript', 'transcript', 20, 24, { text: 'please wait at the desk' }),
      rec('lobby', 'caption', 'caption', 30, 30, { text: 'a man holds a sign reading OPEN' }),
      rec('lobby', 'summary', 'window', 40, 43, { labels: ['person'], count: 1, counts: { person: 1 } }),
    ]);
    const sign = await answerQuestion(index, 'what did the sign say?');
    expect(sign.evidence.map((e) => e.startMs)).toContain(10_000);
    const said = await answerQuestion(index, 'what was said on lobby?');
    expect(said.evidence.map((e) => e.startMs).sort()).toEqual([10_000, 20_000, 30_000]);
    const man = await answerQuestion(index, 'what did the man say?');
    expect(man.evidence.map((e) => e.startMs)).toContain(20_000);
    const screen = await answerQuestion(index, 'when did the screen say NO ENTRY?');
    expect(screen.evidence[0]).toMatchObject({ startMs: 10_000 });
    await index.close();
  });

  it('a truck is searched as a truck first, then as its look-alike car', async () => {
    const index = await fill();
    await index.write([rec('drive', 'event', 'object.left', 3, 9, { labels: ['car'], dwellMs: 6_000 })]);
    const onlyCar = await answerQuestion(index, 'was a truck visible on drive?');
    expect(onlyCar.evidence[0]).toMatchObject({ stream: 'drive', startMs: 3_000 });
    expect(onlyCar.searched.description).toMatch(/no truck found/);
    // Where a truck was detected, its own records answer (not the cars beside it).
    const truck = await answerQuestion(index, 'when did a truck enter walkway?');
    expect(truck.evidence[0]).toMatchObject({ stream: 'walkway', startMs: 1_000 });
    expect(truck.searched.queries[0]!.labels).toEqual(['truck']);
    await index.close();
  });
  it('"the end of the video" is the stream\'s real end; "appeared" over it means present', async () => {
    const index = await openSqliteIndex({ path: ':memory:' });
    await index.write([
      // The whole-stream roll-up (wall start at the stream's start) ends at 60 s.
      rec('yard', 'summary', 'stream', 0, 60, { labels: ['dog', 'person'], count: 1 }),
      rec('yard', 'event', 'object.entered', 30, 30, { labels: ['dog'], count: 1 }),
      rec('yard', 'event', 'object.left', 30, 46, {
        labels: ['dog'],
        dwellMs: 16_000,
        wallStartMs: T0 + 46_000,
      }),
      rec('yard', 'event', 'object.entered', 50, 50, { labels: ['person'], count: 1 }),
      rec('yard', 'event', 'object.left', 50, 58, {
        labels: ['person'],
        dwellMs: 8_000,
        wallStartMs: T0 + 58_000,
      }),
      // Many later-written short events: the newest records end before the stream does.
      ...Array.from({ length: 25 }, (_, i) => rec('yard', 'event', 'motion.started', 31 + i, 31 + i)),
    ]);
    const a = await answerQuestion(
      index,
      'which objects appeared on yard in the last 15 seconds of the video?',
    );
    expect(a.searched.description).toMatch(/stream time 0:45 to 1:00/);
    expect(a.answer).toMatch(/dog/);
    expect(a.answer).toMatch(/person/);
    expect(a.evidence.some((e) => e.startMs === 30_000)).toBe(true);
    await index.close();
  });

  it('reads bare h:mm as stream time when the day holds no record and the recording does', async () => {
    // A clip analysed at 10:00 local time: 80 s of stream time.
    const base = new Date(2026, 11, 6, 10, 0, 0).getTime();
    const now = base + 3_600_000;
    const lobby = (s: number, e: number, o: Partial<HistoryRecord> = {}) =>
      rec('lobby', 'summary', 'window', s, e, {
        wallStartMs: base + s * 1000,
        wallEndMs: base + e * 1000,
        labels: ['person'],
        ...o,
      });
    const index = await openSqliteIndex({ path: ':memory:' });
    await index.write([
      lobby(0, 3, { count: 2, counts: { person: 2 } }),
      lobby(60, 63, { count: 5, counts: { person: 5 } }),
      lobby(66, 69, { count: 4, counts: { person: 4 } }),
      lobby(77, 80, { count: 7, counts: { person: 7 } }),
    ]);
    const a = await answerQuestion(index, 'how many people on lobby between 1:00 and 1:10?', { now });
    expect(a.empty).toBe(false);
    expect(a.answer).toMatch(/At most 5 people/);
    expect(a.evidence[0]).toMatchObject({ startMs: 60_000 });
    expect(a.searched.description).toMatch(/stream time 1:00 to 1:10 \(read as stream time/);
    // Every record is after 01:00 today: the time of day selects nothing, stream time does.
    const after = await answerQuestion(index, 'what happened on lobby after 1:00?', { now });
    expect(after.searched.description).toMatch(/stream time 1:00 to now/);
    expect(after.evidence.every((e) => e.endMs >= 60_000)).toBe(true);
    // A camera with records at 01:00-01:10 today keeps the time of day.
    const cam = new Date(2026, 11, 6, 0, 0, 0).getTime();
    await index.write([
      rec('cam', 'summary', 'window', 3_600, 3_603, {
        wallStartMs: cam + 3_600_000,
        wallEndMs: cam + 3_603_000,
        labels: ['person'],
        count: 1,
        counts: { person: 1 },
      }),
      rec('cam', 'summary', 'window', 30_000, 30_003, {
        wallStartMs: cam + 30_000_000,
        wallEndMs: cam + 30_003_000,
        labels: ['person'],
        count: 3,
        counts: { person: 3 },
      }),
    ]);
    const live = await answerQuestion(index, 'how many people on cam between 1:00 and 1:10?', { now });
    expect(live.searched.description).toMatch(/wall clock/);
    expect(live.evidence[0]).toMatchObject({ stream: 'cam', startMs: 3_600_000 });
    await index.close();
  });

  it('lists one time once: records alike are one evidence item with their keyframes', async () => {
    const index = await openSqliteIndex({ path: ':memory:' });
    await index.write([
      ...[1, 2, 3].map((i) =>
        rec('mixed', 'event', 'object.entered', 20.7, 20.7, {
          id: `horse-${i}`,
          labels: ['horse'],
          count: 3,
          counts: { horse: 3 },
          keyframeIds: [`mixed:207`, `mixed:20${i}`],
        }),
      ),
      rec('mixed', 'summary', 'window', 18, 21, { labels: ['horse'], count: 3, counts: { horse: 3 } }),
    ]);
    const a = await answerQuestion(index, 'how many horses were visible at once on mixed?');
    expect(a.answer.match(/0:20\.7 on mixed/g)).toHaveLength(1);
    expect(a.evidence.filter((e) => e.startMs === 20_700)).toHaveLength(1);
    expect([...a.evidence[0]!.keyframeIds].sort()).toEqual([
      'mixed:201',
      'mixed:202',
      'mixed:203',
      'mixed:207',
    ]);
    expect(a.evidence.some((e) => e.type === 'window')).toBe(true);
    await index.close();
  });
});
