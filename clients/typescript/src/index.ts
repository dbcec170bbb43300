/**
 * A retrying client for the retryproof API.
 *
 *     import { Client } from "retryproof-client";
 *     const client = new Client("http://127.0.0.1:3000", "rp_test_acme_0123456789abcdef");
 *     const result = await client.generate("Write a haiku about retries.");
 *     result.data.content; result.replayed; result.idempotencyKey;
 *
 * Each write gets one `Idempotency-Key`, reused on every retry, so retries are always safe.
 */
export { Client, VERSION } from "./client.js";
export type { ClientOptions, ReadOptions, Result, RetryEvent, WriteOptions } from "./client.js";
export { ApiError, InvalidResponse, NetworkError, RetryproofError } from "./errors.js";
export type { Problem } from "./errors.js";
export { backoffCeilingMs, backoffMs, DEFAULT_POLICY, isRetryableStatus, retryAfterMs, RetryLoop } from "./retry.js";
export type { Decision, RetryPolicy } from "./retry.js";
export { signWebhook, webhookSignature } from "./webhooks.js";
export type { WebhookHeaders } from "./webhooks.js";
export type * from "./types.js";
export type { components, paths, operations } from "./schema.js";
