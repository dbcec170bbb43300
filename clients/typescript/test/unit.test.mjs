// The TypeScript client's retry rules against a scripted fetch and a fake clock (no network):
// the same cases as the Python clients' tests/unit/test_unit_client.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, backoffCeilingMs, Client, isRetryableStatus, NetworkError, retryAfterMs, signWebhook } from "../dist/index.js";

const GENERATION = {
  id: "chatcmpl-1",
  content: "Echo: hi",
  tokens: 11,
  finishReason: "stop",
  model: "gpt-4o-mini",
  usage: { promptTokens: 5, completionTokens: 6, totalTokens: 11 },
  costUsd: "0.000004",
  createdAt: "2026-11-27T20:54:34.687Z",
};
const TRANSFER = { transferId: "tr_1", fromAccountId: "a", toAccountId: "b", amount: 100, currency: "USD", status: "completed", createdAt: "t" };

const ok = (body, headers = {}) => ({ status: 200, body, headers });
const problem = (status, code, headers = {}) => ({ status, body: { type: "t", title: code, status, code, detail: `${code}!` }, headers });

/** A fetch that answers from a script (a step that is an Error is thrown), on a fake clock. */
function make(steps, options = {}) {
  const clock = { now: 0, sleeps: [] };
  const sent = [];
  const fetch = async (url, init) => {
    sent.push({ url, init, at: clock.now, key: init.headers["Idempotency-Key"] ?? null });
    if (options.attemptTakesMs) clock.now += options.attemptTakesMs;
    const step = steps.shift();
    if (step instanceof Error) throw step;
    const text = typeof step.body === "string" ? step.body : JSON.stringify(step.body);
    return new Response(text, { status: step.status, headers: step.headers });
  };
  const client = new Client("http://api.test/", "rp_test_key", {
    fetch,
    now: () => clock.now,
    sleep: async (ms) => {
      assert.ok(ms >= 0);
      clock.sleeps.push(ms);
      clock.now += ms;
    },
    random: () => 0.5,
    ...options,
  });
  return { client, sent, clock };
}

for (const status of [409, 429, 500, 502, 503, 504]) {
  test(`${status} is retried with the same key`, async () => {
    const { client, sent } = make([problem(status, "x"), ok(GENERATION, { "Idempotent-Replayed": "true" })]);
    const result = await client.generate("hi");
    assert.equal(result.status, 200);
    assert.equal(result.attempts, 2);
    assert.equal(result.replayed, true);
    assert.equal(sent.length, 2);
    assert.equal(sent[0].key, result.idempotencyKey);
    assert.equal(sent[1].key, result.idempotencyKey);
    assert.equal(sent[0].init.body, sent[1].init.body);
  });
}

for (const status of [400, 401, 403, 404, 413, 415, 422]) {
  test(`${status} is thrown at once`, async () => {
    const { client, sent, clock } = make([problem(status, "nope")]);
    const error = await client.transfer("a", "b", 100, "USD").catch((e) => e);
    assert.ok(error instanceof ApiError);
    assert.deepEqual([error.status, error.code, error.detail, error.attempts], [status, "nope", "nope!", 1]);
    assert.equal(error.idempotencyKey, sent[0].key);
    assert.equal(sent.length, 1);
    assert.deepEqual(clock.sleeps, []);
  });
}

test("status classification", () => {
  const retried = [];
  for (let s = 400; s < 600; s++) if (isRetryableStatus(s)) retried.push(s);
  assert.deepEqual(retried.slice(0, 3), [409, 429, 500]);
  assert.equal(retried.length, 102);
});

test("network errors are retried with the same key", async () => {
  const { client, sent } = make([new TypeError("fetch failed"), ok(TRANSFER)]);
  const result = await client.transfer("a", "b", 100, "USD");
  assert.equal(result.data.transferId, "tr_1");
  assert.equal(result.attempts, 2);
  assert.equal(sent[0].key, sent[1].key);
});

test("each operation gets its own key; a given key is used", async () => {
  const { client, sent } = make([ok(GENERATION), ok(GENERATION), ok(GENERATION)]);
  const first = await client.generate("hi");
  const second = await client.generate("hi");
  const third = await client.generate("hi", { idempotencyKey: "my-key" });
  assert.notEqual(first.idempotencyKey, second.idempotencyKey);
  assert.equal(third.idempotencyKey, "my-key");
  assert.equal(sent[2].key, "my-key");
});

test("reads send no key and are retried", async () => {
  const page = { records: [], totalCostUsd: "0.000000", nextToken: null };
  const { client, sent } = make([new TypeError("fetch failed"), ok(page)]);
  const result = await client.usage({ idempotencyKey: "k 1" });
  assert.equal(result.idempotencyKey, null);
  assert.equal(result.attempts, 2);
  assert.deepEqual(sent.map((s) => s.key), [null, null]);
  assert.equal(sent[0].url, "http://api.test/usage?idempotencyKey=k+1");
});

test("Retry-After is honoured", async () => {
  const { client, sent, clock } = make([problem(409, "idempotency_key_in_use", { "Retry-After": "3" }), ok(GENERATION)], { random: () => 0 });
  await client.generate("hi");
  assert.deepEqual(clock.sleeps, [3000]);
  assert.deepEqual(sent.map((s) => s.at), [0, 3000]);
});

test("a Retry-After longer than the time left stops at once", async () => {
  const { client, clock } = make([problem(409, "idempotency_key_in_use", { "Retry-After": "60" })], { maxElapsedMs: 10_000 });
  const error = await client.generate("hi").catch((e) => e);
  assert.equal(error.code, "idempotency_key_in_use");
  assert.deepEqual(clock.sleeps, []);
});

test("Retry-After as an HTTP date", () => {
  assert.equal(retryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", () => 1445412475000), 5000);
  assert.equal(retryAfterMs("soon"), 0);
  assert.equal(retryAfterMs(null), 0);
});

test("backoff is exponential with full jitter", async () => {
  const policy = { maxAttempts: 5, maxElapsedMs: 30_000, baseDelayMs: 500, maxDelayMs: 3000 };
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffCeilingMs(policy, n)), [500, 1000, 2000, 3000, 3000]);
  const { client, clock } = make([...Array(4).fill(problem(503, "s")), ok(GENERATION)], { random: () => 0.999, baseDelayMs: 500, maxDelayMs: 3000 });
  await client.generate("hi");
  const ceilings = [500, 1000, 2000, 3000];
  clock.sleeps.forEach((s, i) => {
    assert.ok(s >= 0 && s < ceilings[i]);
    assert.ok(Math.abs(s - ceilings[i] * 0.999) < 1e-6);
  });
});

test("attempts are bounded and the last answer is thrown", async () => {
  const { client, sent } = make(Array(3).fill(problem(502, "llm_error")), { maxAttempts: 3 });
  const error = await client.agentRun("hi", ["get_balance"]).catch((e) => e);
  assert.ok(error instanceof ApiError);
  assert.deepEqual([error.code, error.attempts, sent.length], ["llm_error", 3, 3]);
  assert.equal(new Set(sent.map((s) => s.key)).size, 1);
  assert.equal(error.idempotencyKey, sent[0].key);
});

test("network failures outliving the retries throw NetworkError with the key", async () => {
  const { client, sent } = make([new TypeError("reset"), new TypeError("reset")], { maxAttempts: 2 });
  const error = await client.generate("hi").catch((e) => e);
  assert.ok(error instanceof NetworkError);
  assert.equal(error.attempts, 2);
  assert.equal(error.idempotencyKey, sent[0].key);
  assert.equal(error.idempotencyKey, sent[1].key);
  assert.equal(error.cause.message, "reset");
});

test("total time is bounded", async () => {
  const timeout = () => new DOMException("timed out", "TimeoutError");
  const { client, sent, clock } = make(Array.from({ length: 10 }, timeout), {
    attemptTakesMs: 4000,
    maxAttempts: 10,
    maxElapsedMs: 10_000,
    timeoutMs: 4000,
  });
  const error = await client.generate("hi").catch((e) => e);
  assert.ok(error instanceof NetworkError);
  // No attempt starts once the 10 s are spent (this fake attempt ignores its timeout).
  assert.ok(sent.every((s) => s.at < 10_000), JSON.stringify(sent.map((s) => s.at)));
  assert.ok(sent.length < 10);
});

test("onRetry reports each wait", async () => {
  const events = [];
  const { client } = make([new TypeError("fetch failed"), problem(502, "llm_error"), ok(GENERATION)], { onRetry: (e) => events.push(e) });
  const result = await client.generate("hi");
  assert.deepEqual(events.map((e) => [e.attempt, e.status, e.code]), [[1, null, null], [2, 502, "llm_error"]]);
  assert.ok(events.every((e) => e.idempotencyKey === result.idempotencyKey && e.path === "/generate"));
});

test("requests carry auth, JSON and the key; the key is never shown", async () => {
  const { client, sent } = make([ok(GENERATION)]);
  const result = await client.generate("hi", { model: "gpt-4o-mini", temperature: 0.5, maxTokens: 9 });
  const { url, init } = sent[0];
  assert.equal(url, "http://api.test/generate");
  assert.equal(init.method, "POST");
  assert.equal(init.headers.Authorization, "Bearer rp_test_key");
  assert.equal(init.headers["Content-Type"], "application/json");
  assert.deepEqual(JSON.parse(init.body), { prompt: "hi", model: "gpt-4o-mini", temperature: 0.5, maxTokens: 9 });
  assert.equal(result.data.usage.totalTokens, 11);
  assert.equal(result.data.costUsd, "0.000004");
  assert.ok(!String(client).includes("rp_test_key"));
  assert.ok(!JSON.stringify(client).includes("rp_test_key"));
});

test("amount must be an integer", async () => {
  const { client } = make([]);
  await assert.rejects(client.transfer("a", "b", 10.5, "USD"), TypeError);
});

test("gateway messages become API errors; path parameters are quoted", async () => {
  const { client, sent } = make([{ status: 403, body: { message: "Forbidden" } }, ok({ accountId: "a/b", balance: 1, currency: "USD" })]);
  const error = await client.account("acc 1").catch((e) => e);
  assert.deepEqual([error.status, error.code], [403, "forbidden"]);
  assert.equal((await client.account("a/b")).data.balance, 1);
  assert.equal(sent[1].url, "http://api.test/accounts/a%2Fb");
});

test("a stored rejection is thrown and shows it was replayed", async () => {
  const { client } = make([problem(400, "insufficient_funds", { "Idempotent-Replayed": "true" })]);
  const error = await client.transfer("a", "b", 10 ** 9, "USD").catch((e) => e);
  assert.equal(error.code, "insufficient_funds");
  assert.equal(error.replayed, true);
});

test("a cancelled call is not retried", async () => {
  const controller = new AbortController();
  const { client, sent } = make([problem(503, "s"), ok(GENERATION)], {
    sleep: async () => controller.abort(new Error("cancelled")),
  });
  await assert.rejects(client.generate("hi", { signal: controller.signal }), /cancelled/);
  assert.equal(sent.length, 1);
});

test("webhook signatures follow Standard Webhooks (the same bytes as the Python client)", async () => {
  const secret = "whsec_" + Buffer.from("0123456789abcdef0123456789abcdef").toString("base64");
  const headers = await signWebhook(secret, "msg_1", 1700000000, '{"eventId":"evt_1"}');
  assert.deepEqual(headers, {
    "webhook-id": "msg_1",
    "webhook-timestamp": "1700000000",
    "webhook-signature": "v1,hXFSGArpTiGGiM7QLj5sx1XrZMauQ98kxq+HrkqBOR0=",
  });
  await assert.rejects(signWebhook("whsec_***", "m", 1, ""), TypeError);
});

test("deliverWebhook signs the exact body and sends no API key", async () => {
  const accepted = { jobId: "job_1", eventId: "evt_1", status: "queued", duplicate: false };
  const secret = "whsec_Fo2K2eUCIr+F8+1khegsfssVd57kgeSQ";
  const { client, sent } = make([{ status: 202, body: accepted }]);
  const result = await client.deliverWebhook(secret, { eventId: "evt_1" }, { timestamp: 1700000000 });
  const { init } = sent[0];
  assert.equal(result.status, 202);
  assert.equal(init.headers.Authorization, undefined);
  assert.equal(init.headers["Idempotency-Key"], undefined);
  const expected = await signWebhook(secret, "evt_1", 1700000000, init.body);
  assert.equal(init.headers["webhook-signature"], expected["webhook-signature"]);
});

// --- key status and agent runs (contract sections 6 and 7) -----------------------------------

const RUN_DONE = {
  runId: "run_1",
  status: "completed",
  output: "done",
  steps: [],
  pendingApprovals: [],
  usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 },
  costUsd: "0.000001",
};

test("keyStatus asks for the key and the operation", async () => {
  const { client, sent } = make([ok({ key: "k/1", operation: "transfer", status: "completed", responseStatus: 200 })]);
  const result = await client.keyStatus("k/1", "transfer");
  assert.equal(sent[0].url, "http://api.test/idempotency-keys/k%2F1?operation=transfer");
  assert.equal(result.data.status, "completed");
  assert.equal(sent[0].key, null);
});

test("an agent run that goes on is started, then waited for", async () => {
  const pending = { approvalId: "ap_1", toolCallId: "c2", name: "transfer_funds", arguments: {}, expiresAt: "t" };
  const waiting = { ...RUN_DONE, status: "awaiting_approval", output: null, pendingApprovals: [pending] };
  const { client, sent, clock } = make([
    { status: 202, body: { runId: "run_1", status: "running", statusUrl: "/agent/runs/run_1" }, headers: { "Retry-After": "2" } },
    ok({ ...RUN_DONE, status: "running" }),
    ok({ ...RUN_DONE, status: "running" }, { "Retry-After": "3" }),
    ok(waiting),
    ok(RUN_DONE),
  ]);
  const started = await client.agentRun("hi", ["transfer_funds"], { approveTools: ["transfer_funds"], wait: 0 });
  assert.deepEqual([started.status, started.data.status, started.data.statusUrl], [202, "running", "/agent/runs/run_1"]);
  assert.equal(sent[0].init.headers.Prefer, "wait=0");
  assert.deepEqual(JSON.parse(sent[0].init.body).approveTools, ["transfer_funds"]);
  const run = await client.waitForRun("run_1");
  assert.equal(run.status, "awaiting_approval");
  assert.equal(run.pendingApprovals[0].approvalId, "ap_1");
  assert.deepEqual(sent.slice(1).map((s) => s.url), Array(3).fill("http://api.test/agent/runs/run_1"));
  assert.deepEqual(clock.sleeps, [1000, 3000]); // every second, or the answer's Retry-After
  const done = await client.waitForRun("run_1", { untilApproval: false });
  assert.equal(done.status, "completed");
});

test("waiting for a run stops at the timeout", async () => {
  const { client, sent, clock } = make(Array(10).fill(ok({ ...RUN_DONE, status: "running" })));
  const run = await client.waitForRun("run_1", { timeoutMs: 2000 });
  assert.equal(run.status, "running");
  assert.ok(clock.now <= 2000);
  assert.equal(sent.length, 3);
});

test("a decision is sent with one key across retries", async () => {
  const decided = { approvalId: "ap_1", decision: "reject", decidedAt: "2026-01-01T00:00:00Z" };
  const { client, sent } = make([problem(503, "storage_unavailable"), ok(decided)]);
  const result = await client.decideApproval("run_1", "ap_1", "reject", { comment: "no" });
  assert.equal(sent[0].url, "http://api.test/agent/runs/run_1/approvals/ap_1");
  assert.deepEqual(JSON.parse(sent[0].init.body), { decision: "reject", comment: "no" });
  assert.equal(sent[0].key, sent[1].key);
  assert.equal(result.data.decision, "reject");
  await assert.rejects(client.decideApproval("run_1", "ap_1", "maybe"), TypeError);
});

test("resume sends no body, with its key", async () => {
  const { client, sent } = make([ok(RUN_DONE)]);
  const result = await client.resumeAgentRun("run_1", { idempotencyKey: "resume-1", wait: 5 });
  const { url, init } = sent[0];
  assert.equal(url, "http://api.test/agent/runs/run_1/resume");
  assert.equal(init.body, undefined);
  assert.equal(init.headers["Content-Type"], undefined);
  assert.deepEqual([init.headers["Idempotency-Key"], init.headers.Prefer], ["resume-1", "wait=5"]);
  assert.equal(result.data.status, "completed");
});
