import { describe, expect, it } from 'vitest';
import { ModelStatisticsBook } from '../../src/infer/model-statistics.js';

describe('ModelStatisticsBook', () => {
  it("counts requests, executions and batch sizes in Triton's units (ns, rows)", () => {
    const book = new ModelStatisticsBook(() => 1_700_000_000_000);
    book.track('m', '1');
    expect(book.snapshot('m', '1')[0]).toMatchObject({ inference_count: '0', last_inference: '0' });
    book.batch('m', '1', { size: 3, requests: 2, queueMs: [1, 2], computeMs: 10, ok: true });
    book.batch('m', '1', { size: 1, requests: 1, queueMs: [0.5], computeMs: 4, ok: true });
    // A failed execution adds queue time only.
    book.batch('m', '1', { size: 2, requests: 1, queueMs: [3], computeMs: 7, ok: false });
    book.request('m', '1', true, 12);
    book.request('m', '1', false, 1.5);
    const [s] = book.snapshot('m', '');
    expect(s).toMatchObject({
      name: 'm',
      version: '1',
      last_inference: '1700000000000',
      inference_count: '4',
      execution_count: '2',
      inference_stats: {
        success: { count: '1', ns: '12000000' },
        fail: { count: '1', ns: '1500000' },
        queue: { count: '4', ns: '6500000' },
        // Each request of a batch is charged the batch's compute time.
        compute_infer: { count: '3', ns: String(2 * 10e6 + 4e6) },
        compute_input: { count: '3', ns: '0' },
      },
      batch_stats: [
        { batch_size: '1', compute_infer: { count: '1', ns: '4000000' } },
        { batch_size: '3', compute_infer: { count: '1', ns: '10000000' } },
      ],
    });
  });

  it('filters by model and version; one entry per tracked version', () => {
    const book = new ModelStatisticsBook();
    book.track('a', '1');
    book.track('a', '2');
    book.track('b', '1');
    book.track('a', '1');
    expect(book.snapshot('', '').map((s) => `${s.name}:${s.version}`)).toEqual(['a:1', 'a:2', 'b:1']);
    expect(book.snapshot('a', '2').map((s) => `${s.name}:${s.version}`)).toEqual(['a:2']);
    expect(book.snapshot('c', '')).toEqual([]);
  });
});
