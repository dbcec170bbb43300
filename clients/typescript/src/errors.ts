/** What a call throws: the API's problem details, or a network failure that outlived the retries. */

/** Base class. `idempotencyKey` is the key the operation used (null for reads): calling the same
 * operation again with it later continues the same logical operation, never a second one. */
export class RetryproofError extends Error {
  readonly idempotencyKey: string | null;
  readonly attempts: number;

  constructor(message: string, idempotencyKey: string | null, attempts: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.idempotencyKey = idempotencyKey;
    this.attempts = attempts;
  }
}

/** RFC 9457 problem details with the API's `code`. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  code?: string;
  detail?: string;
  errors?: Array<{ field: string; message: string }>;
  [member: string]: unknown;
}

/** An HTTP error answer: problem details, or API Gateway's own `{"message": ...}` (401, 403). */
export class ApiError extends RetryproofError {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly title: string;
  readonly type: string;
  readonly problem: Problem;
  /** Lower-case names. */
  readonly headers: Record<string, string>;

  constructor(status: number, problem: Problem, headers: Record<string, string>, idempotencyKey: string | null, attempts: number) {
    const code = typeof problem.code === "string" && problem.code ? problem.code : `http_${status}`;
    const detail = String(problem.detail ?? problem.title ?? "");
    super(`${status} ${code}: ${detail}`, idempotencyKey, attempts);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.title = String(problem.title ?? "");
    this.type = String(problem.type ?? "about:blank");
    this.problem = problem;
    this.headers = headers;
  }

  /** True when this is the stored outcome of an earlier request (e.g. `insufficient_funds`). */
  get replayed(): boolean {
    return (this.headers["idempotent-replayed"] ?? "").toLowerCase() === "true";
  }

  /** `validation_error`: the invalid fields. */
  get errors(): Array<{ field: string; message: string }> {
    return Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }

  static fromResponse(status: number, text: string, headers: Record<string, string>, idempotencyKey: string | null, attempts: number): ApiError {
    let parsed: unknown = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = {};
    }
    let problem: Problem = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Problem) : {};
    if (problem.code === undefined && typeof problem["message"] === "string") {
      const message = problem["message"];
      problem = { status, code: message.toLowerCase().split(/\s+/).join("_"), title: message, detail: message };
    }
    return new ApiError(status, { status, ...problem }, headers, idempotencyKey, attempts);
  }
}

/** No HTTP answer within the attempts and the time allowed (connection refused or reset,
 * timeout). The operation may or may not have run: call it again with `idempotencyKey`. */
export class NetworkError extends RetryproofError {
  constructor(cause: unknown, idempotencyKey: string | null, attempts: number) {
    const what = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`network error after ${attempts} attempt(s): ${what}`, idempotencyKey, attempts, { cause });
  }
}

/** A success answer whose body is not what the API promises. */
export class InvalidResponse extends RetryproofError {}
