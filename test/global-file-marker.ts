/**
 * Setup file (runs in each worker before each test file): records the running test file in the
 * environment, so a process a test leaves behind can be traced back to its file (test/global-leaks.ts).
 */
import { expect } from 'vitest';
import { FILE_MARKER } from './global-leaks.js';

const file = expect.getState().testPath;
if (file) process.env[FILE_MARKER] = file;
else delete process.env[FILE_MARKER];
