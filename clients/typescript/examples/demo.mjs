// `make demo CLIENT=ts`: the retry story told with the TypeScript client, against a running
// `make dev`. tools/demo.py passes --url, --llm-url, --tenant, and the seed's API key and webhook
// secret in RETRYPROOF_API_KEY / RETRYPROOF_WEBHOOK_SECRET. Exit code 0 when every claim held.
import { parseArgs } from "node:util";

import { ApiError, Client } from "../dist/index.js";

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:3000" },
    "llm-url": { type: "string", default: "http://127.0.0.1:3001" },
    "api-key": { type: "string", default: process.env.RETRYPROOF_API_KEY },
    "webhook-secret": { type: "string", default: process.env.RETRYPROOF_WEBHOOK_SECRET || undefined },
    tenant: { type: "string", default: "acme" },
  },
});
const MAIN = "acc_acme_main";
const OPS = "acc_acme_ops";
const failures = [];
const out = (line) => console.log(line);

function check(ok, claim) {
  out(`   ${ok ? "OK" : "FAILED"}: ${claim}`);
  if (!ok) failures.push(claim);
}

const onRetry = (label) => (e) =>
  out(`   .. ${label}attempt ${e.attempt}: ${e.status === null ? `network error (${e.error?.message ?? e.error})` : `${e.status} ${e.code ?? ""}`.trim()}; retrying in ${(e.delayMs / 1000).toFixed(2)}s with the same Idempotency-Key`);

async function completions() {
  try {
    const response = await fetch(`${args["llm-url"].replace(/\/v1\/?$/, "")}/stats`);
    return (await response.json()).completions;
  } catch {
    return null;
  }
}

/** A fetch that loses the first response on its way back: the server has answered. */
function losingFirstResponse() {
  let lost = false;
  return async (url, init) => {
    const response = await fetch(url, init);
    if (!lost) {
      lost = true;
      await response.arrayBuffer();
      throw new TypeError(`the ${response.status} response was lost on the way back`);
    }
    return response;
  };
}

const client = new Client(args.url, args["api-key"], { onRetry: onRetry("") });

/** The API's reads are eventually consistent (DynamoDB; the local stack emulates up to 1 s of
 * lag): read until two reads 1.2 s apart agree, at most 10 s. */
async function settled(read) {
  let last = JSON.stringify(await read());
  for (let waited = 0; waited < 10_000; waited += 1200) {
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const next = JSON.stringify(await read());
    if (next === last) return JSON.parse(next);
    last = next;
  }
  return JSON.parse(last);
}

async function lostResponse() {
  out("\n1. A generation whose response is lost, then retried");
  const lossy = new Client(args.url, args["api-key"], { fetch: losingFirstResponse(), onRetry: onRetry("") });
  const before = await completions();
  const result = await lossy.generate("Explain in one sentence why retries need idempotency keys.", { maxTokens: 64 });
  out(`   <- ${result.status} after ${result.attempts} attempts, Idempotency-Key ${result.idempotencyKey.slice(0, 8)}..., replayed=${result.replayed}: ${JSON.stringify(result.data.content.slice(0, 60))}`);
  const records = await settled(async () => (await client.usage({ idempotencyKey: result.idempotencyKey })).data.records);
  const after = await completions();
  out(`   fake LLM completions ${before} -> ${after}; usage records for the key: ${records.length}`);
  check(result.replayed, "the retry got the stored response (Idempotent-Replayed)");
  check(records.length === 1 && (before === null || after - before === 1), "charged once: one completion");
  return result.idempotencyKey;
}

async function concurrentTransfer(amount = 1000, copies = 5) {
  out(`\n2. A transfer of ${amount} cents sent ${copies} times at once, one key`);
  const balances = () => settled(async () => [(await client.account(MAIN)).data.balance, (await client.account(OPS)).data.balance]);
  const [main, ops] = await balances();
  const key = crypto.randomUUID();
  const results = await Promise.all(
    Array.from({ length: copies }, (_, n) =>
      new Client(args.url, args["api-key"], { maxAttempts: 8, onRetry: onRetry(`copy ${n + 1}: `) }).transfer(MAIN, OPS, amount, "USD", { idempotencyKey: key }),
    ),
  );
  results.forEach((r, n) => out(`   copy ${n + 1}: ${r.status} replayed=${r.replayed} ${r.data.transferId} (${r.attempts} attempts)`));
  const ids = new Set(results.map((r) => r.data.transferId));
  const [mainAfter, opsAfter] = await balances();
  check(ids.size === 1 && results.filter((r) => !r.replayed).length === 1, `${copies} requests, one transfer`);
  check(main - mainAfter === amount && opsAfter - ops === amount, `money moved once: ${MAIN} -${main - mainAfter}, ${OPS} +${opsAfter - ops}`);
}

async function keyStatus(key) {
  out("\n3. What the server knows about the generation's key (GET /idempotency-keys/{key})");
  try {
    const status = await client.keyStatus(key, "generate");
    out(`   ${JSON.stringify(status.data)}`);
    check(status.data.status === "completed", "the key is completed: a retry would replay, not run");
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      out("   skipped: GET /idempotency-keys/{key} is not served by this stack");
      return;
    }
    throw error;
  }
}

async function agentRun(amount = 250) {
  out("\n4. An agent run: started, followed until it ends");
  const args_ = { fromAccountId: MAIN, toAccountId: OPS, amount, currency: "USD" };
  const started = await client.agentRun(`Pay the ops team ${amount} cents.\nCALL transfer_funds ${JSON.stringify(args_)}`, ["transfer_funds", "get_balance"], { maxSteps: 3 });
  out(`   <- ${started.status} ${started.data.status} (run ${started.data.runId})`);
  let run = started.data;
  if (run.status !== "completed" && run.status !== "failed") run = await client.waitForRun(run.runId, { timeoutMs: 60_000 });
  for (const pending of run.pendingApprovals ?? []) {
    out(`   a person approves ${pending.name} ${JSON.stringify(pending.arguments)}`);
    await client.decideApproval(run.runId, pending.approvalId, "approve", { comment: "demo" });
  }
  if (run.status === "awaiting_approval") run = await client.waitForRun(run.runId, { timeoutMs: 60_000, untilApproval: false });
  out(`   run ${run.runId}: ${run.status}, ${run.steps?.length ?? 0} step(s)`);
  check(run.status === "completed", "the run completed");
}

async function webhook(deliveries = 3) {
  out(`\n5. A webhook delivered ${deliveries} times`);
  if (!args["webhook-secret"]) return out("   skipped: the seed has no webhookSecret for the tenant");
  const eventId = `evt_demo_ts_${crypto.randomUUID().slice(0, 12)}`;
  const payload = { eventId, tenantId: args.tenant, documentId: `doc_demo_ts_${crypto.randomUUID().slice(0, 8)}`, content: "Retries are safe when every operation carries an idempotency key." };
  const answers = [];
  for (let n = 0; n < deliveries; n++) answers.push(await client.deliverWebhook(args["webhook-secret"], payload));
  answers.forEach((a, n) => out(`   delivery ${n + 1}: ${a.status} duplicate=${a.data.duplicate} ${a.data.jobId}`));
  check(answers[0].status === 202 && answers.slice(1).every((a) => a.data.duplicate) && new Set(answers.map((a) => a.data.jobId)).size === 1, "one job: 202 once, then duplicates");
}

const health = await fetch(`${args.url}/health`).then((r) => r.status === 200).catch(() => false);
if (!health) {
  console.error(`no retryproof stack at ${args.url}: start it with \`make dev\` first`);
  process.exit(2);
}
out(`retryproof demo (TypeScript client) against ${args.url}`);
const started = performance.now();
const key = await lostResponse();
await concurrentTransfer();
await keyStatus(key);
await agentRun();
await webhook();
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (failures.length) {
  out(`\n${failures.length} claim(s) did not hold (${seconds}s)`);
  process.exit(1);
}
out(`\nEvery claim held (${seconds}s).`);
