/** Standard Webhooks signing (https://www.standardwebhooks.com/), with WebCrypto (Node 20+, browsers). */

export const SECRET_PREFIX = "whsec_";

function secretBytes(secret: string): Uint8Array<ArrayBuffer> {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    throw new TypeError("a webhook secret is 'whsec_' followed by base64");
  }
  return Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
}

function base64(bytes: ArrayBuffer): string {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text);
}

/** `v1,<base64 HMAC-SHA256 of "{msgId}.{timestamp}.{body}">`, keyed by the secret's bytes. */
export async function webhookSignature(secret: string, msgId: string, timestamp: number, body: string | Uint8Array): Promise<string> {
  const raw = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const prefix = new TextEncoder().encode(`${msgId}.${Math.trunc(timestamp)}.`);
  const signed = new Uint8Array(prefix.length + raw.length);
  signed.set(prefix);
  signed.set(raw, prefix.length);
  const key = await crypto.subtle.importKey("raw", secretBytes(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return `v1,${base64(await crypto.subtle.sign("HMAC", key, signed))}`;
}

export interface WebhookHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** The three headers of a signed delivery. Send `body` byte for byte as signed. */
export async function signWebhook(secret: string, msgId: string, timestamp: number, body: string | Uint8Array): Promise<WebhookHeaders> {
  return {
    "webhook-id": msgId,
    "webhook-timestamp": String(Math.trunc(timestamp)),
    "webhook-signature": await webhookSignature(secret, msgId, timestamp, body),
  };
}
