import { describe, expect, it } from 'vitest';
import { authorized, errorReply, statusOf } from '../../src/control/api.js';
import { exitCodeOf } from '../../src/cli/main.js';
import { VigilError } from '../../src/core/errors.js';

describe('control API mapping', () => {
  it('maps stable codes to HTTP statuses and CLI exit codes', () => {
    const cases: [string, number, number][] = [
      ['VIGIL_ERR_BAD_REQUEST', 400, 2],
      ['VIGIL_ERR_INVALID_ARGUMENT', 400, 2],
      ['VIGIL_ERR_SOURCE_NOT_FOUND', 400, 2],
      ['VIGIL_ERR_UNAUTHORIZED', 401, 5],
      ['VIGIL_ERR_STREAM_NOT_FOUND', 404, 3],
      ['VIGIL_ERR_STREAM_EXISTS', 409, 4],
      ['VIGIL_ERR_STREAM_LIMIT', 429, 4],
      ['VIGIL_ERR_CLOSED', 503, 1],
      ['VIGIL_ERR_SOMETHING_ELSE', 500, 1],
    ];
    for (const [code, status, exit] of cases) {
      expect(statusOf(code), code).toBe(status);
      expect(exitCodeOf(code), code).toBe(exit);
    }
  });

  it('error replies carry code and message; unexpected errors hide their details', () => {
    expect(errorReply(new VigilError('VIGIL_ERR_STREAM_EXISTS', 'taken'))).toEqual({
      status: 409,
      body: { error: { code: 'VIGIL_ERR_STREAM_EXISTS', message: 'taken' } },
    });
    const r = errorReply(new Error('secret internals'));
    expect(r.status).toBe(500);
    expect(JSON.stringify(r.body)).not.toContain('secret internals');
  });

  it('bearer tokens are checked exactly', () => {
    expect(authorized(undefined, undefined)).toBe(true);
    expect(authorized('abc12345', 'Bearer abc12345')).toBe(true);
    expect(authorized('abc12345', 'bearer  abc12345')).toBe(true);
    expect(authorized('abc12345', 'Bearer abc1234')).toBe(false);
    expect(authorized('abc12345', 'Basic abc12345')).toBe(false);
    expect(authorized('abc12345', undefined)).toBe(false);
  });
});
