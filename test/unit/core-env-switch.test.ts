import { describe, expect, it } from 'vitest';
import { switchedOff } from '../../src/core/env-switch.js';

describe('on/off environment switches', () => {
  it('0, off, false and no (any case) turn a switch off; unset or anything else leaves it on', () => {
    for (const value of ['0', 'off', 'OFF', 'False', 'no']) expect(switchedOff(value)).toBe(true);
    for (const value of [undefined, '', '1', 'on', 'yes', 'offline', ' off'])
      expect(switchedOff(value)).toBe(false);
  });
});
