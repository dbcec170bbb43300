// The generated types are fresh: regenerate src/schema.ts from openapi.json (with the same
// command as `npm run generate`) into a scratch file and compare. Exit 1 when they differ.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const generate = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts.generate;
const args = generate.split(/\s+/);
const out = args.indexOf("--output");
if (args[0] !== "openapi-typescript" || out < 0) throw new Error(`unexpected generate script: ${generate}`);
const committed = args[out + 1];
const scratch = mkdtempSync(join(tmpdir(), "retryproof-types-"));
try {
  args[out + 1] = join(scratch, "schema.ts");
  execFileSync(join(root, "node_modules", ".bin", "openapi-typescript"), args.slice(1), { cwd: root, stdio: "pipe" });
  const fresh = readFileSync(args[out + 1], "utf8");
  const current = readFileSync(join(root, committed), "utf8");
  if (fresh !== current) {
    console.error(`${committed} is stale: openapi.json changed. Run 'npm run generate' in clients/typescript.`);
    process.exit(1);
  }
  console.log(`${committed} matches openapi.json`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
