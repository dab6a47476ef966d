/**
 * The composition root's ownership stack: every resource registers its teardown right after it
 * starts, so whatever throws later, everything started so far is stopped, in reverse order.
 *
 * ```ts
 * const stack = new CleanupStack();
 * try {
 *   const nats = await startNatsServer();
 *   stack.push('nats-server', () => nats.stop());
 *   …
 * } catch (err) {
 *   await stack.close();
 *   throw err;
 * }
 * ```
 */

export interface CleanupFailure {
  name: string;
  error: unknown;
}

export class CleanupStack {
  private readonly entries: { name: string; fn: () => unknown }[] = [];
  private closing: Promise<CleanupFailure[]> | undefined;

  /** Registers a teardown. After close() started, the teardown runs at once (nothing is left behind). */
  push(name: string, fn: () => unknown): void {
    if (this.closing) {
      void this.closing.then(() => run(name, fn));
      return;
    }
    this.entries.push({ name, fn });
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Runs every teardown once, last pushed first, each awaited before the next; a failing one does
   * not stop the rest. Idempotent: later calls return the same promise. Resolves with the failures.
   */
  close(): Promise<CleanupFailure[]> {
    this.closing ??= (async () => {
      const failures: CleanupFailure[] = [];
      for (const { name, fn } of this.entries.splice(0).reverse()) {
        const failure = await run(name, fn);
        if (failure) failures.push(failure);
      }
      return failures;
    })();
    return this.closing;
  }
}

async function run(name: string, fn: () => unknown): Promise<CleanupFailure | null> {
  try {
    await fn();
    return null;
  } catch (error) {
    return { name, error };
  }
}
