/** The client: one Idempotency-Key per logical operation, reused on every retry. */
import { ApiError, InvalidResponse, NetworkError } from "./errors.js";
import { checkPolicy, DEFAULT_POLICY, RetryLoop, type RetryPolicy } from "./retry.js";
import type {
  Account,
  AgentRun,
  AgentRunRequest,
  ApprovalChoice,
  ApprovalDecision,
  GenerateRequest,
  Generation,
  KeyOperation,
  KeyStatus,
  Summary,
  ToolName,
  Transfer,
  TransferRequest,
  UsagePage,
  WebhookAccepted,
  WebhookEvent,
} from "./types.js";
import { signWebhook } from "./webhooks.js";

export const VERSION = "0.1.0";

const RUN_ENDED = new Set(["completed", "failed"]);

/** `Prefer: wait=N` (RFC 7240): how long the server may hold the answer for the run. */
function prefer(wait: number | undefined): Record<string, string> | undefined {
  return wait === undefined ? undefined : { Prefer: `wait=${Math.trunc(wait)}` };
}

/** Passed to `onRetry` before each wait. */
export interface RetryEvent {
  method: string;
  path: string;
  /** The attempt that failed (1 = the first). */
  attempt: number;
  /** Until the next attempt. */
  delayMs: number;
  idempotencyKey: string | null;
  /** The HTTP status, or null for a network error. */
  status: number | null;
  /** The problem's `code`, when the answer had one. */
  code: string | null;
  /** The network error. */
  error: unknown;
}

export interface ClientOptions {
  /** Attempts per operation (5). */
  maxAttempts?: number;
  /** Time for all attempts of one operation, waits included (30 000 ms). */
  maxElapsedMs?: number;
  /** Per attempt, cut to the time left (30 000 ms). */
  timeoutMs?: number;
  /** The first backoff ceiling (250 ms); doubles per retry up to `maxDelayMs` (8 000 ms). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** The platform's `fetch` unless given (a wrapper, a test double). */
  fetch?: typeof fetch;
  onRetry?: (event: RetryEvent) => void;
  /** For tests: how to wait, what time it is (ms, monotonic), a random number in [0, 1). */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** One operation's answer, after any retries. */
export interface Result<T> {
  data: T;
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** The key every attempt sent (null for reads and webhooks). */
  idempotencyKey: string | null;
  attempts: number;
  /** True when the server answered with the stored outcome of an earlier attempt. */
  replayed: boolean;
  originalRequestTime: string | null;
}

export interface WriteOptions {
  /** Reuse a key (to continue an operation after an error); a new UUID otherwise. */
  idempotencyKey?: string;
  /** Cancels the call and its retries (the attempt in flight may still run on the server). */
  signal?: AbortSignal;
}

export interface ReadOptions {
  signal?: AbortSignal;
}

interface Call {
  method: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
  idempotencyKey: string | null;
  authenticate: boolean;
  signal?: AbortSignal | undefined;
}

interface Answer {
  status: number;
  text: string;
  headers: Record<string, string>;
  attempts: number;
}

const seg = encodeURIComponent;

function newKey(): string {
  return crypto.randomUUID();
}

function headersOf(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    out[name.toLowerCase()] = value;
  });
  return out;
}

function problemCode(text: string): string | null {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object" && typeof (parsed as { code?: unknown }).code === "string") {
      return (parsed as { code: string }).code;
    }
  } catch {
    // not JSON
  }
  return null;
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * retryproof's HTTP API.
 *
 * Every write gets an `Idempotency-Key` (a new UUID unless you pass one) that all of its retries
 * reuse, so a retry can never run the operation twice. Network errors, 409 (honouring
 * `Retry-After`), 429 and 5xx are retried with exponential backoff and full jitter, at most
 * `maxAttempts` attempts within `maxElapsedMs`; any other 4xx is thrown at once as `ApiError`.
 * A network failure that outlives the retries throws `NetworkError`; both carry the key, so the
 * operation can be continued later with `{ idempotencyKey: err.idempotencyKey }`.
 */
export class Client {
  readonly baseUrl: string;
  readonly policy: RetryPolicy;
  readonly timeoutMs: number;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #onRetry: ((event: RetryEvent) => void) | undefined;
  readonly #sleep: ((ms: number) => Promise<void>) | undefined;
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(baseUrl: string, apiKey: string, options: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.#apiKey = apiKey;
    this.policy = checkPolicy({
      maxAttempts: options.maxAttempts ?? DEFAULT_POLICY.maxAttempts,
      maxElapsedMs: options.maxElapsedMs ?? DEFAULT_POLICY.maxElapsedMs,
      baseDelayMs: options.baseDelayMs ?? DEFAULT_POLICY.baseDelayMs,
      maxDelayMs: options.maxDelayMs ?? DEFAULT_POLICY.maxDelayMs,
    });
    this.timeoutMs = options.timeoutMs ?? 30_000;
    if (!(this.timeoutMs > 0)) throw new RangeError("timeoutMs must be positive");
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#onRetry = options.onRetry;
    this.#sleep = options.sleep;
    this.#now = options.now ?? (() => performance.now());
    this.#random = options.random ?? Math.random;
  }

  /** Never shows the API key. */
  toString(): string {
    return `Client(${this.baseUrl}, maxAttempts=${this.policy.maxAttempts})`;
  }

  toJSON(): object {
    return { baseUrl: this.baseUrl, policy: this.policy, timeoutMs: this.timeoutMs };
  }

  // --- operations -----------------------------------------------------------------------------

  /** `POST /generate`: a completion, paid for once however often it is retried. */
  generate(prompt: string, options: Omit<GenerateRequest, "prompt"> & WriteOptions = {}): Promise<Result<Generation>> {
    const { idempotencyKey, signal, ...rest } = options;
    const body: GenerateRequest = { prompt };
    if (rest.model != null) body.model = rest.model;
    if (rest.temperature != null) body.temperature = rest.temperature;
    if (rest.maxTokens != null) body.maxTokens = rest.maxTokens;
    return this.#write("/generate", body, { idempotencyKey, signal });
  }

  /** `POST /transfer`: `amount` in integer minor units (cents); moved exactly once. */
  transfer(fromAccountId: string, toAccountId: string, amount: number, currency: string, options: WriteOptions = {}): Promise<Result<Transfer>> {
    if (!Number.isSafeInteger(amount)) {
      return Promise.reject(new TypeError("amount is an integer number of minor units (cents)"));
    }
    const body: TransferRequest = { fromAccountId, toAccountId, amount, currency };
    return this.#write("/transfer", body, options);
  }

  /** `POST /agent/runs`: starts a run — 200 when it ended within `wait` seconds (`Prefer:
   * wait=N`), else 202 with `status` running or awaiting_approval (`waitForRun` follows it). A
   * retry with the same key never starts a second run. */
  agentRun(
    input: string,
    tools: ToolName[],
    options: { maxSteps?: number; approveTools?: ToolName[]; wait?: number } & WriteOptions = {},
  ): Promise<Result<AgentRun>> {
    const body: AgentRunRequest & { approveTools?: ToolName[] } = { input, tools: [...tools] };
    if (options.maxSteps !== undefined) body.maxSteps = options.maxSteps;
    if (options.approveTools?.length) body.approveTools = [...options.approveTools];
    return this.#write("/agent/runs", body, options, prefer(options.wait));
  }

  /** `GET /agent/runs/{runId}`. */
  getAgentRun(runId: string, options: ReadOptions = {}): Promise<Result<AgentRun>> {
    return this.#read(`/agent/runs/${seg(runId)}`, options);
  }

  /** Polls `GET /agent/runs/{runId}` until the run ended (or, with `untilApproval`, the
   * default, waits for a person), or `timeoutMs` (300 000) passed: the run as last read. Every
   * `intervalMs` (1 000), or the answer's `Retry-After`. */
  async waitForRun(runId: string, options: { timeoutMs?: number; untilApproval?: boolean; intervalMs?: number } & ReadOptions = {}): Promise<AgentRun> {
    const deadline = this.#now() + (options.timeoutMs ?? 300_000);
    const interval = options.intervalMs ?? 1_000;
    const untilApproval = options.untilApproval ?? true;
    for (;;) {
      const result = await this.getAgentRun(runId, options);
      const run = result.data;
      const left = deadline - this.#now();
      if (RUN_ENDED.has(run.status) || (untilApproval && run.status === "awaiting_approval") || left <= 0) return run;
      const hinted = (result.headers["retry-after"] ?? "").trim();
      const delay = /^\d+$/.test(hinted) ? Number(hinted) * 1000 : interval;
      await this.#wait(Math.max(10, Math.min(delay, left)), options.signal);
    }
  }

  /** `POST /agent/runs/{runId}/approvals/{approvalId}`: approve or reject a tool call that waits
   * for a person (the same decision again gets the same answer; the other one is 409
   * `approval_already_decided`). */
  decideApproval(runId: string, approvalId: string, decision: ApprovalChoice, options: { comment?: string } & WriteOptions = {}): Promise<Result<ApprovalDecision>> {
    if (decision !== "approve" && decision !== "reject") {
      return Promise.reject(new TypeError("decision is 'approve' or 'reject'"));
    }
    const body: { decision: ApprovalChoice; comment?: string } = { decision };
    if (options.comment !== undefined) body.comment = options.comment;
    return this.#write(`/agent/runs/${seg(runId)}/approvals/${seg(approvalId)}`, body, options);
  }

  /** `POST /agent/runs/{runId}/resume`: continue a failed run after its last completed step
   * (409 `run_not_resumable` unless it failed). */
  resumeAgentRun(runId: string, options: { wait?: number } & WriteOptions = {}): Promise<Result<AgentRun>> {
    return this.#write(`/agent/runs/${seg(runId)}/resume`, undefined, options, prefer(options.wait));
  }

  /** `GET /idempotency-keys/{key}?operation=`: in_progress, completed or unknown — whether a
   * retry would wait, replay or run — without replaying the body. */
  keyStatus(idempotencyKey: string, operation: KeyOperation, options: ReadOptions = {}): Promise<Result<KeyStatus>> {
    return this.#read(`/idempotency-keys/${seg(idempotencyKey)}?${new URLSearchParams({ operation })}`, options);
  }

  /** `GET /usage`: the tenant's cost records (one key's, with `idempotencyKey`). */
  usage(query: { idempotencyKey?: string; limit?: number; nextToken?: string } = {}, options: ReadOptions = {}): Promise<Result<UsagePage>> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
    const text = params.toString();
    return this.#read(`/usage${text ? `?${text}` : ""}`, options);
  }

  account(accountId: string, options: ReadOptions = {}): Promise<Result<Account>> {
    return this.#read(`/accounts/${seg(accountId)}`, options);
  }

  getTransfer(transferId: string, options: ReadOptions = {}): Promise<Result<Transfer>> {
    return this.#read(`/transfers/${seg(transferId)}`, options);
  }

  webhookEvent(eventId: string, options: ReadOptions = {}): Promise<Result<WebhookEvent>> {
    return this.#read(`/webhook-events/${seg(eventId)}`, options);
  }

  summary(documentId: string, options: ReadOptions = {}): Promise<Result<Summary>> {
    return this.#read(`/summaries/${seg(documentId)}`, options);
  }

  /** Signs `payload` with a `whsec_` secret (Standard Webhooks) and delivers it, as a sender
   * would: the event id makes redeliveries safe, so no Idempotency-Key is sent. */
  async deliverWebhook(
    secret: string,
    payload: { eventId: string; [member: string]: unknown },
    options: { msgId?: string; timestamp?: number; path?: string } & ReadOptions = {},
  ): Promise<Result<WebhookAccepted>> {
    const body = JSON.stringify(payload);
    const msgId = options.msgId ?? payload.eventId;
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const signed = await signWebhook(secret, msgId, timestamp, body);
    return this.#result(
      await this.#send({
        method: "POST",
        path: options.path ?? "/webhooks/document-uploaded",
        body,
        headers: { "Content-Type": "application/json", ...signed },
        idempotencyKey: null,
        authenticate: false,
        signal: options.signal,
      }),
      null,
    );
  }

  /** Any route, with the same retry policy; `data` is the parsed JSON body. Pass an
   * `idempotencyKey` for a write (the typed methods make one up). */
  async request<T = unknown>(
    method: string,
    path: string,
    options: { json?: unknown; headers?: Record<string, string>; idempotencyKey?: string; authenticate?: boolean } & ReadOptions = {},
  ): Promise<Result<T>> {
    const headers = { ...(options.headers ?? {}) };
    const body = options.json === undefined ? undefined : JSON.stringify(options.json);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
      headers["Content-Type"] = "application/json";
    }
    const key = options.idempotencyKey ?? null;
    const call: Call = { method, path, headers, idempotencyKey: key, authenticate: options.authenticate ?? true, signal: options.signal };
    if (body !== undefined) call.body = body;
    return this.#result<T>(await this.#send(call), key);
  }

  // --- the retry loop (the rules: retry.ts) --------------------------------------------------

  async #write<T>(path: string, body: unknown, options: WriteOptions, headers?: Record<string, string>): Promise<Result<T>> {
    // One key per logical operation, made here once; every attempt below sends it.
    const key = options.idempotencyKey ?? newKey();
    const call: Call = {
      method: "POST",
      path,
      headers: { ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...(headers ?? {}) },
      idempotencyKey: key,
      authenticate: true,
      signal: options.signal,
    };
    if (body !== undefined) call.body = JSON.stringify(body);
    return this.#result<T>(await this.#send(call), key);
  }

  async #read<T>(path: string, options: ReadOptions): Promise<Result<T>> {
    const answer = await this.#send({ method: "GET", path, idempotencyKey: null, authenticate: true, signal: options.signal });
    return this.#result<T>(answer, null);
  }

  #wait(ms: number, signal?: AbortSignal): Promise<void> {
    return this.#sleep ? this.#sleep(ms) : defaultSleep(ms, signal);
  }

  async #attempt(call: Call, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; text: string; headers: Record<string, string> }> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException("the attempt timed out", "TimeoutError")), timeoutMs);
    const onAbort = (): void => controller.abort(call.signal?.reason);
    call.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const init: RequestInit = { method: call.method, headers, signal: controller.signal };
      if (call.body !== undefined) init.body = call.body;
      const response = await this.#fetch(this.baseUrl + call.path, init);
      // The body is part of the answer: a connection lost while reading it is a network error.
      const text = await response.text();
      return { status: response.status, text, headers: headersOf(response) };
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener("abort", onAbort);
    }
  }

  async #send(call: Call): Promise<Answer> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (call.authenticate) headers["Authorization"] = `Bearer ${this.#apiKey}`;
    if (call.idempotencyKey !== null) headers["Idempotency-Key"] = call.idempotencyKey;
    Object.assign(headers, call.headers ?? {});
    const loop = new RetryLoop(this.policy, this.timeoutMs, this.#now, this.#random);
    for (;;) {
      call.signal?.throwIfAborted(); // the caller's cancellation: no further attempt
      const timeoutMs = loop.begin();
      let answer: { status: number; text: string; headers: Record<string, string> } | null = null;
      let error: unknown = null;
      try {
        answer = await this.#attempt(call, headers, timeoutMs);
      } catch (caught) {
        if (call.signal?.aborted) throw caught; // the caller's cancellation: no retry
        error = caught;
      }
      const decision = loop.after(answer?.status ?? null, answer?.headers["retry-after"]);
      if (decision.kind === "done" && answer !== null) return { ...answer, attempts: loop.attempt };
      if (decision.kind === "give_up") {
        if (answer !== null) throw ApiError.fromResponse(answer.status, answer.text, answer.headers, call.idempotencyKey, loop.attempt);
        throw new NetworkError(error, call.idempotencyKey, loop.attempt);
      }
      if (decision.kind !== "wait") throw new Error("unreachable");
      this.#onRetry?.({
        method: call.method,
        path: call.path.split("?", 1)[0] ?? call.path,
        attempt: loop.attempt,
        delayMs: decision.delayMs,
        idempotencyKey: call.idempotencyKey,
        status: decision.status,
        code: answer === null ? null : problemCode(answer.text),
        error,
      });
      await this.#wait(decision.delayMs, call.signal);
    }
  }

  #result<T>(answer: Answer, key: string | null): Result<T> {
    if (answer.status >= 400) {
      throw ApiError.fromResponse(answer.status, answer.text, answer.headers, key, answer.attempts);
    }
    let data: T;
    try {
      data = JSON.parse(answer.text) as T;
    } catch (cause) {
      throw new InvalidResponse(`unexpected ${answer.status} body`, key, answer.attempts, { cause });
    }
    if (data === null || typeof data !== "object") {
      throw new InvalidResponse(`unexpected ${answer.status} body`, key, answer.attempts);
    }
    return {
      data,
      status: answer.status,
      headers: answer.headers,
      idempotencyKey: key,
      attempts: answer.attempts,
      replayed: (answer.headers["idempotent-replayed"] ?? "").toLowerCase() === "true",
      originalRequestTime: answer.headers["x-original-request-time"] ?? null,
    };
  }
}
