/**
 * When to retry and how long to wait — the same rules as the Python client's `RetryLoop`:
 * network errors, 409, 429 and 5xx are retried; the wait is exponential backoff with full
 * jitter, at least `Retry-After`; at most `maxAttempts` attempts, and no attempt is started
 * whose wait would end past `maxElapsedMs`. No I/O here: the client sends and sleeps.
 */

/** An attempt with less time than this left is not started (ms). */
export const MIN_ATTEMPT_TIMEOUT_MS = 50;

/** 409 (the key is in flight), 429 and 5xx are worth retrying with the same key; any other
 * 4xx is an answer that a retry would only repeat. */
export function isRetryableStatus(status: number): boolean {
  return status === 409 || status === 429 || status >= 500;
}

export interface RetryPolicy {
  maxAttempts: number;
  /** From the first attempt to the last one's deadline. */
  maxElapsedMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_POLICY: RetryPolicy = {
  maxAttempts: 5,
  maxElapsedMs: 30_000,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
};

export function checkPolicy(policy: RetryPolicy): RetryPolicy {
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new RangeError("maxAttempts must be an integer of at least 1");
  }
  if (!(policy.maxElapsedMs > 0) || policy.baseDelayMs < 0 || policy.maxDelayMs < 0) {
    throw new RangeError("maxElapsedMs must be positive, delays non-negative");
  }
  return policy;
}

/** The most the `retry`-th wait (1, 2, ...) may last: base * 2^(retry-1), capped. */
export function backoffCeilingMs(policy: RetryPolicy, retry: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
}

/** Full jitter: uniform in [0, ceiling), so that clients failing together do not retry together. */
export function backoffMs(policy: RetryPolicy, retry: number, random: () => number): number {
  return random() * backoffCeilingMs(policy, retry);
}

/** `Retry-After` in ms (delta-seconds or an HTTP date); 0 when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, nowMs: () => number = Date.now): number {
  const text = (value ?? "").trim();
  if (text === "") return 0;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  return Number.isNaN(when) ? 0 : Math.max(0, when - nowMs());
}

export type Decision =
  | { kind: "done" }
  | { kind: "wait"; delayMs: number; status: number | null; retryAfterMs: number }
  | { kind: "give_up"; status: number | null };

/** One logical request's attempts: `begin()` before each (its timeout), `after()` once it is over. */
export class RetryLoop {
  attempt = 0;
  private readonly started: number;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly timeoutMs: number,
    private readonly clock: () => number,
    private readonly random: () => number,
  ) {
    this.started = clock();
  }

  leftMs(): number {
    return this.policy.maxElapsedMs - (this.clock() - this.started);
  }

  /** Counts an attempt; its timeout: the client's, cut to the time left. */
  begin(): number {
    this.attempt += 1;
    return Math.max(MIN_ATTEMPT_TIMEOUT_MS, Math.min(this.timeoutMs, this.leftMs()));
  }

  /** `status` null for a network error; `retryAfter` the answer's header. */
  after(status: number | null, retryAfter?: string | null): Decision {
    if (status !== null && !isRetryableStatus(status)) return { kind: "done" };
    const hinted = status === null ? 0 : retryAfterMs(retryAfter);
    const delayMs = Math.max(backoffMs(this.policy, this.attempt, this.random), hinted);
    if (this.attempt >= this.policy.maxAttempts || delayMs + MIN_ATTEMPT_TIMEOUT_MS > this.leftMs()) {
      return { kind: "give_up", status };
    }
    return { kind: "wait", delayMs, status, retryAfterMs: hinted };
  }
}
