import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { parseStreamDefinition } from '../../src/analyzer/manager.js';

describe('config: OCR and VAD switches', () => {
  it('defaults: OCR off, VAD on, no dictionary override', () => {
    const c = parseConfig('{}');
    expect(c.inference.ocr).toBe(false);
    expect(c.inference.vad).toBe(true);
    expect(c.inference.ocrDictionary).toBeUndefined();
  });

  it('reads inference.ocr, inference.vad and a dictionary path relative to the file', () => {
    const c = parseConfig(
      'inference: { ocr: true, vad: false, ocrDictionary: keys.txt }\nstreams:\n  - { id: a, url: "test:ball", audio: { vad: false } }',
      'x.yaml',
      {},
      '/etc/vigil',
    );
    expect(c.inference.ocr).toBe(true);
    expect(c.inference.vad).toBe(false);
    expect(c.inference.ocrDictionary).toBe(resolve('/etc/vigil', 'keys.txt'));
    expect(c.streams[0]!.audio).toEqual({ vad: false });
  });

  it('rejects wrong types and unknown keys, naming the key path', () => {
    expect(() => parseConfig('inference: { ocr: "yes" }', 'x.yaml')).toThrow(
      /inference\.ocr: expected true or false/,
    );
    expect(() => parseConfig('inference: { vad: 1 }', 'x.yaml')).toThrow(/inference\.vad/);
    expect(() =>
      parseConfig('streams:\n  - { id: a, url: "test:ball", audio: { vda: true } }', 'x.yaml'),
    ).toThrow(/streams\[0\]\.audio.*vda/);
    expect(() => parseConfig('streams:\n  - { id: a, url: "test:ball", audio: true }', 'x.yaml')).toThrow(
      /streams\[0\]\.audio/,
    );
  });

  it('stream definitions over the control API check audio the same way', () => {
    expect(parseStreamDefinition({ id: 'a', url: 'test:ball', audio: { vad: true } }).audio).toEqual({
      vad: true,
    });
    expect(() => parseStreamDefinition({ id: 'a', url: 'test:ball', audio: { vad: 'no' } })).toThrow(
      /audio\.vad: expected true or false/,
    );
    expect(() => parseStreamDefinition({ id: 'a', url: 'test:ball', audio: { level: 1 } })).toThrow(
      /audio\.level: unknown key/,
    );
  });
});

describe('config: inference.sharedMemory', () => {
  it("defaults to 'auto', takes 'on' and 'off', refuses anything else naming the key", () => {
    expect(parseConfig('{}').inference.sharedMemory).toBe('auto');
    expect(parseConfig('inference: { sharedMemory: "off" }').inference.sharedMemory).toBe('off');
    expect(parseConfig('inference: { sharedMemory: "on" }').inference.sharedMemory).toBe('on');
    expect(() => parseConfig('inference: { sharedMemory: yes }', 'x.yaml')).toThrow(
      /inference\.sharedMemory/,
    );
  });
});

describe('config: inference.streamInfer', () => {
  it('defaults to true, takes false, refuses a non-boolean naming the key', () => {
    expect(parseConfig('{}').inference.streamInfer).toBe(true);
    expect(parseConfig('inference: { streamInfer: false }').inference.streamInfer).toBe(false);
    expect(() => parseConfig('inference: { streamInfer: sometimes }', 'x.yaml')).toThrow(
      /inference\.streamInfer/,
    );
  });
});

describe('config: inference.warmup (issue 22 item 6)', () => {
  it('defaults to true, takes false, refuses a non-boolean naming the key', () => {
    expect(parseConfig('{}').inference.warmup).toBe(true);
    expect(parseConfig('inference: { warmup: false }').inference.warmup).toBe(false);
    expect(() => parseConfig('inference: { warmup: later }', 'x.yaml')).toThrow(/inference\.warmup/);
  });
});
