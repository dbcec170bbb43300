// The retry table (tests/support/retry_cases.json) for the TypeScript client, with the same
// set-up and checks as tests/support/retry_table.py for the Python clients. Run by
// tests/e2e/test_retry_table_e2e.py against a local stack behind the fault proxy:
//   RETRY_TABLE, RETRYPROOF_PROXY_URL, RETRYPROOF_API_URL, FAKE_LLM_URL, RETRYPROOF_API_KEY.
// With RETRY_TABLE_DROP_KEY=1 the client is broken on purpose (a new key on every retry) and
// each retrying case passes only if the table catches it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { ApiError, Client, NetworkError } from "../dist/index.js";

const env = process.env;
const ready = Boolean(env.RETRY_TABLE && env.RETRYPROOF_PROXY_URL && env.RETRYPROOF_API_URL && env.FAKE_LLM_URL);
const table = ready ? JSON.parse(readFileSync(env.RETRY_TABLE, "utf8")) : { cases: [], defaults: { client: {} } };
const dropKey = env.RETRY_TABLE_DROP_KEY === "1";

async function call(method, url, body) {
  const init = { method, headers: { Authorization: `Bearer ${env.RETRYPROOF_API_KEY}` } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

const completions = async () => (await call("GET", `${env.FAKE_LLM_URL}/stats`)).json.completions;
const balance = async (account) => (await call("GET", `${env.RETRYPROOF_API_URL}/accounts/${account}`)).json.balance;
const usageRecords = async (key) =>
  (await call("GET", `${env.RETRYPROOF_API_URL}/usage?idempotencyKey=${encodeURIComponent(key)}`)).json.records.length;

async function reset() {
  await call("DELETE", `${env.FAKE_LLM_URL}/faults`);
  await call("DELETE", `${env.RETRYPROOF_PROXY_URL}/__proxy/faults`);
}

async function arm(testCase) {
  await reset();
  for (const fault of testCase.llmFaults ?? []) assert.ok([200, 201].includes((await call("POST", `${env.FAKE_LLM_URL}/faults`, fault)).status));
  for (const fault of testCase.proxyFaults ?? []) assert.equal((await call("POST", `${env.RETRYPROOF_PROXY_URL}/__proxy/faults`, fault)).status, 201);
  const balances = {};
  for (const account of Object.keys(testCase.expect.balanceDelta ?? {})) balances[account] = await balance(account);
  return { completions: await completions(), balances };
}

/** A fetch that sends a new Idempotency-Key on every retry: the bug the table must catch. */
function keyDroppingFetch() {
  const seen = new Set();
  return (url, init) => {
    const key = init.headers["Idempotency-Key"];
    if (key !== undefined) {
      if (seen.has(key)) init = { ...init, headers: { ...init.headers, "Idempotency-Key": crypto.randomUUID() } };
      seen.add(key);
    }
    return fetch(url, init);
  };
}

async function run(testCase) {
  const options = { ...table.defaults.client, ...(testCase.client ?? {}) };
  if (dropKey) options.fetch = keyDroppingFetch();
  const client = new Client(env.RETRYPROOF_PROXY_URL, env.RETRYPROOF_API_KEY, options);
  const op = testCase.operation;
  try {
    let result;
    if (op.name === "generate") result = await client.generate(op.prompt, op.temperature === undefined ? {} : { temperature: op.temperature });
    else if (op.name === "transfer") result = await client.transfer(op.from, op.to, op.amount, op.currency);
    else throw new Error(`unknown operation ${op.name}`);
    return { outcome: "ok", status: result.status, replayed: result.replayed, attempts: result.attempts, idempotencyKey: result.idempotencyKey };
  } catch (error) {
    if (error instanceof ApiError) {
      return { outcome: "api_error", status: error.status, code: error.code, attempts: error.attempts, idempotencyKey: error.idempotencyKey };
    }
    if (error instanceof NetworkError) return { outcome: "network_error", attempts: error.attempts, idempotencyKey: error.idempotencyKey };
    throw error;
  }
}

/** What did not hold, in words: the checks of tests/support/retry_table.py `failures`. */
async function failures(testCase, outcome, before) {
  const expect = testCase.expect;
  const seen = (await call("GET", `${env.RETRYPROOF_PROXY_URL}/__proxy/log`)).json.requests.filter((e) => !e.path.startsWith("/__proxy/"));
  await reset();
  const found = [];
  for (const name of ["outcome", "status", "code", "replayed", "attempts"]) {
    if (name in expect && outcome[name] !== expect[name]) found.push(`${name}: expected ${expect[name]}, got ${outcome[name]}`);
  }
  const attempts = outcome.attempts ?? 0;
  if ("minAttempts" in expect && attempts < expect.minAttempts) found.push(`attempts: expected at least ${expect.minAttempts}, got ${attempts}`);
  if (seen.length !== attempts) found.push(`the proxy saw ${seen.length} requests, the client reports ${attempts} attempts`);
  const key = outcome.idempotencyKey;
  const sent = seen.map((e) => e.idempotencyKey);
  if (key == null || sent.some((k) => k !== key)) found.push(`not one key on every attempt: client ${key}, sent ${JSON.stringify(sent)}`);
  const statuses = seen.map((e) => e.status);
  for (const status of expect.statusesInclude ?? []) if (!statuses.includes(status)) found.push(`no ${status} answer among ${JSON.stringify(statuses)}`);
  for (let i = 0; i + 1 < seen.length; i++) {
    const { retryAfter, answered } = seen[i];
    if (retryAfter && answered !== null) {
      const waited = seen[i + 1].arrived - answered;
      if (waited < Number(retryAfter) - 0.01) found.push(`Retry-After ${retryAfter} s not honoured: next attempt ${waited.toFixed(3)} s later`);
    }
  }
  if ("completions" in expect) {
    const paid = (await completions()) - before.completions;
    if (paid !== expect.completions) found.push(`LLM completions: expected ${expect.completions}, got ${paid}`);
  }
  if ("usageRecords" in expect && key != null) {
    const records = await usageRecords(key);
    if (records !== expect.usageRecords) found.push(`usage records for the key: expected ${expect.usageRecords}, got ${records}`);
  }
  for (const [account, delta] of Object.entries(expect.balanceDelta ?? {})) {
    const moved = (await balance(account)) - before.balances[account];
    if (moved !== delta) found.push(`${account} moved ${moved}, expected ${delta}`);
  }
  return found;
}

const retries = (testCase) => (testCase.expect.attempts ?? testCase.expect.minAttempts ?? 1) > 1;

for (const testCase of table.cases) {
  if (dropKey && !retries(testCase)) continue;
  test(`${dropKey ? "a key-dropping client fails " : ""}${testCase.name}`, async () => {
    const before = await arm(testCase);
    const outcome = await run(testCase);
    const found = await failures(testCase, outcome, before);
    if (dropKey) assert.ok(found.some((f) => f.startsWith("not one key")), JSON.stringify(found));
    else assert.deepEqual(found, []);
  });
}

test("the table is given", { skip: ready ? false : "run by tests/e2e/test_retry_table_e2e.py (needs the stack)" }, () => {
  assert.ok(table.cases.length > 0);
});
