/**
 * Finds the processes a test run left behind. The run's global set-up puts a marker in the
 * environment (RUN_MARKER=<unique value>); every process the tests start inherits it (nats-server,
 * the RTSP server, inference servers, Prometheus, Chromium, gst-launch, node children and their own
 * children), so after the run /proc tells which of them are still alive, whoever their parent is now.
 * Linux only (/proc); elsewhere nothing is found.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

export const RUN_MARKER = 'VIGIL_TEST_RUN';
/** Set per test file in each worker (test/global-file-marker.ts): who started a process. */
export const FILE_MARKER = 'VIGIL_TEST_FILE';

export interface MarkedProcess {
  pid: number;
  ppid: number;
  /** The command line, arguments joined by spaces, at most 160 characters. */
  command: string;
  /** The test file that was running in the worker that started it (or an ancestor of it). */
  testFile: string | undefined;
}

function readProc(pid: number, file: string): string | null {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null; // gone, or not ours to read
  }
}

/** Live processes (zombies left out) whose environment carries `RUN_MARKER=value`. */
export function findMarked(value: string): MarkedProcess[] {
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
  const needle = `${RUN_MARKER}=${value}`;
  const out: MarkedProcess[] = [];
  for (const pid of pids) {
    if (pid === process.pid) continue;
    const environ = readProc(pid, 'environ');
    if (!environ) continue;
    const vars = environ.split('\0');
    if (!vars.includes(needle)) continue;
    const stat = readProc(pid, 'stat');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ") ".
    const rest = stat?.slice(stat.lastIndexOf(') ') + 2).split(' ') ?? [];
    if (rest[0] === 'Z' || rest[0] === 'X') continue;
    const cmdline = (readProc(pid, 'cmdline') ?? '').replace(/\0+$/, '').replace(/\0/g, ' ');
    const file = vars.find((v) => v.startsWith(`${FILE_MARKER}=`))?.slice(FILE_MARKER.length + 1);
    out.push({
      pid,
      ppid: Number(rest[1] ?? 0),
      command: cmdline.length > 160 ? `${cmdline.slice(0, 157)}...` : cmdline,
      testFile: file || undefined,
    });
  }
  return out;
}

/** One line naming a leftover process: pid, command, and the test file that started it. */
export function describeProcess(p: MarkedProcess, root = process.cwd()): string {
  const from = p.testFile ? `, started under ${relative(root, p.testFile) || p.testFile}` : '';
  return `pid ${p.pid} (parent ${p.ppid}): ${p.command || '?'}${from}`;
}

export interface ReapOptions {
  /** Processes that belong to the runner itself (its workers), never counted. */
  exclude?: (p: MarkedProcess) => boolean;
  /** How long processes being stopped right now get to finish exiting. Default 3000 ms. */
  graceMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits up to `graceMs` for marked processes to exit on their own; kills those still alive
 * (SIGCONT for stopped ones, then SIGKILL) and returns them: the leaks.
 */
export async function reapLeaks(value: string, options: ReapOptions = {}): Promise<MarkedProcess[]> {
  const exclude = options.exclude ?? (() => false);
  const live = () => findMarked(value).filter((p) => !exclude(p));
  const deadline = Date.now() + (options.graceMs ?? 3000);
  let left = live();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = live();
  }
  for (const p of left) {
    for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
      try {
        process.kill(p.pid, signal);
      } catch {
        // already gone
      }
    }
  }
  // Give the kernel a moment, so the next run (or a re-check) starts clean.
  const killedBy = Date.now() + 2000;
  while (Date.now() < killedBy && left.some((p) => live().some((q) => q.pid === p.pid))) await sleep(50);
  return left;
}
