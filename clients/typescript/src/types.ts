/**
 * The API's shapes. Those in `openapi.json` come from the generated `schema.ts` (`npm run
 * generate`; `npm run check:types` fails when it is stale); the routes of the contract's agent-run
 * lifecycle and key status that `openapi.json` does not describe yet are typed here by hand.
 */
import type { components } from "./schema.js";

type Schemas = components["schemas"];

export type GenerateRequest = Schemas["GenerateRequest"];
export type Generation = Schemas["GenerateResponse"];
export type TokenUsage = Schemas["TokenUsage"];
export type TransferRequest = Schemas["TransferRequest"];
export type Transfer = Schemas["TransferOut"];
export type Account = Schemas["AccountOut"];
export type UsagePage = Schemas["UsageList"];
export type UsageRecord = Schemas["UsageRecordOut"];
export type AgentRunRequest = Schemas["AgentRunRequest"];
export type AgentStep = Schemas["AgentStepOut"];
export type ToolName = NonNullable<AgentRunRequest["tools"]>[number];
export type DocumentUploaded = Schemas["DocumentUploadedRequest"];
export type WebhookAccepted = Schemas["WebhookAccepted"];
export type WebhookEvent = Schemas["WebhookEventOut"];
export type Summary = Schemas["SummaryOut"];

// --- agent-run lifecycle and key status (contract sections 6 and 7) -------------------------

export type AgentRunStatus = "running" | "awaiting_approval" | "completed" | "failed";

export interface PendingApproval {
  approvalId: string;
  toolCallId: string;
  name: string;
  arguments: unknown;
  expiresAt: string;
}

/** A run as `POST /agent/runs` (200, or 202 while it goes on: then only `runId`, `status`,
 * `statusUrl`) or `GET /agent/runs/{runId}` shows it. */
export interface AgentRun {
  runId: string;
  status: AgentRunStatus;
  output?: string | null;
  steps?: Array<AgentStep & { approval?: { approvalId: string; decision: ApprovalChoice; [member: string]: unknown }; refused?: boolean }>;
  pendingApprovals?: PendingApproval[];
  usage?: TokenUsage;
  costUsd?: string;
  error?: { code: string; detail: string };
  statusUrl?: string;
  createdAt?: string;
  updatedAt?: string;
}

export type ApprovalChoice = "approve" | "reject";

export interface ApprovalDecision {
  approvalId: string;
  decision: ApprovalChoice;
  decidedAt: string;
}

export type KeyOperation = "generate" | "transfer" | "agent_run";

export interface KeyStatus {
  key: string;
  operation: KeyOperation;
  status: "in_progress" | "completed" | "unknown";
  leaseExpiresAt?: string;
  originalRequestTime?: string;
  responseStatus?: number;
  expiresAt?: string;
}
