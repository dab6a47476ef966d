/**
 * A circuit breaker per server address: `failureThreshold` consecutive failures open it; while open,
 * calls fail at once (no network, no queue); after `resetTimeoutMs` one call goes through as a
 * probe (half-open); its success closes the breaker, its failure opens it again for another
 * `resetTimeoutMs`. Pure logic with an injectable clock.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. Default 3. */
  failureThreshold?: number;
  /** How long it stays open before letting a probe through, ms. Default 1000. */
  resetTimeoutMs?: number;
}

export class CircuitBreaker {
  private stateValue: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  readonly failureThreshold: number;
  readonly resetTimeoutMs: number;

  constructor(
    options: CircuitBreakerOptions = {},
    private readonly now: () => number = () => performance.now(),
    private readonly onChange?: (from: BreakerState, to: BreakerState) => void,
  ) {
    this.failureThreshold = options.failureThreshold ?? 3;
    this.resetTimeoutMs = options.resetTimeoutMs ?? 1000;
    if (!(Number.isInteger(this.failureThreshold) && this.failureThreshold >= 1))
      throw new RangeError('failureThreshold must be an integer >= 1');
    if (!(this.resetTimeoutMs >= 0)) throw new RangeError('resetTimeoutMs must be >= 0');
  }

  /** The state now (an open breaker whose timeout passed reads as half-open). */
  get state(): BreakerState {
    if (this.stateValue === 'open' && this.now() - this.openedAt >= this.resetTimeoutMs) return 'half-open';
    return this.stateValue;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Whether a call may go out now; in half-open only one probe at a time. Call `success`/`failure` after. */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'open') return false;
    if (this.probeInFlight) return false;
    this.set('half-open');
    this.probeInFlight = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.probeInFlight = false;
    this.set('closed');
  }

  failure(): void {
    this.failures++;
    const wasProbe = this.probeInFlight;
    this.probeInFlight = false;
    if (wasProbe || this.stateValue === 'half-open' || this.failures >= this.failureThreshold) {
      this.openedAt = this.now();
      this.set('open');
    }
  }

  /** A call that went out and ended without telling whether the server is healthy (e.g. cancelled). */
  release(): void {
    this.probeInFlight = false;
  }

  private set(to: BreakerState): void {
    const from = this.stateValue;
    if (from === to) return;
    this.stateValue = to;
    try {
      this.onChange?.(from, to);
    } catch {
      // A listener never breaks the breaker.
    }
  }
}
