/**
 * glibc malloc's mmap threshold for long-running commands (#22 item 6).
 *
 * glibc serves blocks above the mmap threshold (128 KiB) with mmap, and frees them with munmap;
 * but each time it frees such a block it raises the threshold to that block's size (up to 32 MiB).
 * After the first frame-sized free, frames (hundreds of KiB to a few MiB, copied on many
 * thread-pool and GStreamer threads) come from the per-thread arenas instead, and the arenas keep
 * the fragmented peak: with attach/detach churn RSS grew from about 550 to 900 MiB in 60 cycles.
 * A fixed threshold (glibc's tunable `glibc.malloc.mmap_threshold`) turns the adjustment off and
 * RSS stays flat. glibc reads its tunables once, when the process starts, so `bin/vigil.js` starts
 * itself again with them in the environment (see {@link mallocTuningEnv}).
 *
 * `VIGIL_MALLOC_MMAP_THRESHOLD`: bytes (default 131072); `off` leaves glibc's dynamic threshold.
 * A threshold the environment already sets (GLIBC_TUNABLES or MALLOC_MMAP_THRESHOLD_) is kept.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** Commands that run for long and attach, detach or decode streams: the ones worth a second start. */
export const LONG_RUNNING_COMMANDS: ReadonlySet<string> = new Set([
  'run',
  'analyze',
  'demo',
  'infer-server',
]);

export const DEFAULT_MMAP_THRESHOLD = 131072;

/** Set in the second start's environment (and read there: it never starts a third). */
export const CHILD_MARK = 'VIGIL_MALLOC_TUNED';

const TUNABLE = 'glibc.malloc.mmap_threshold';

export interface MallocTuningInput {
  env: Readonly<Record<string, string | undefined>>;
  /** process.platform */
  platform: string;
  /** glibc's version at run time (process.report's glibcVersionRuntime); undefined: not glibc. Asked only when needed. */
  glibc: () => string | undefined;
  /** The command line after `vigil` (the command first). */
  argv: readonly string[];
}

/**
 * The environment to start the command again with, or undefined when this process should just run
 * it: not glibc, not a long-running command, turned off, or a threshold already in the environment.
 * Throws (a message for the user) on a VIGIL_MALLOC_MMAP_THRESHOLD that is neither `off` nor bytes.
 */
export function mallocTuningEnv(input: MallocTuningInput): Record<string, string> | undefined {
  const { env } = input;
  const setting = env.VIGIL_MALLOC_MMAP_THRESHOLD?.trim();
  if (setting === 'off') return undefined;
  let bytes = DEFAULT_MMAP_THRESHOLD;
  if (setting !== undefined && setting !== '') {
    // glibc caps the threshold at 32 MiB (HEAP_MAX_SIZE / 2 on 64-bit); above it the tunable is ignored.
    if (!/^\d{1,9}$/.test(setting) || Number(setting) < 4096 || Number(setting) > 33554432) {
      throw new Error(
        `VIGIL_MALLOC_MMAP_THRESHOLD must be 'off' or a byte count from 4096 to 33554432, got '${setting}'`,
      );
    }
    bytes = Number(setting);
  }
  if (env[CHILD_MARK] !== undefined || input.platform !== 'linux') return undefined;
  const command = input.argv[0];
  if (command === undefined || !LONG_RUNNING_COMMANDS.has(command)) return undefined;
  if (input.argv.includes('--help') || input.argv.includes('-h')) return undefined;
  const tunables = env.GLIBC_TUNABLES ?? '';
  if (tunables.includes(`${TUNABLE}=`) || env.MALLOC_MMAP_THRESHOLD_ !== undefined) return undefined;
  if (input.glibc() === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  out.GLIBC_TUNABLES = tunables ? `${tunables}:${TUNABLE}=${bytes}` : `${TUNABLE}=${bytes}`;
  out[CHILD_MARK] = '1';
  return out;
}

/** Signals the first process hands on to the second; the second's guard ignores a repeat within 500 ms (see guardSignals). */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs this command line again with `env` and mirrors its end: the same exit code, or the same
 * signal. Signals this process gets are handed on (a terminal's Ctrl-C reaches both; the second's
 * signal guard takes the pair as one). The second process notices when this one is killed outright,
 * and stops (see {@link watchTuningParent}).
 */
export function runTuned(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env,
  });
  for (const signal of FORWARDED) process.on(signal, () => child.kill(signal));
  child.on('error', (err) => {
    console.error(`vigil: cannot start ${process.execPath}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
  return child;
}

/**
 * In the second start: when the first process goes away without handing on a signal (SIGKILL),
 * stop as on SIGTERM rather than run on unowned. No-op in a process that was not started so.
 */
export function watchTuningParent(everyMs = 1000): void {
  if (process.env[CHILD_MARK] === undefined) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    // process.ppid asks the kernel each time: an orphan is handed to init (or a subreaper).
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, everyMs);
  // The watch never keeps a finished command alive.
  timer.unref();
}
