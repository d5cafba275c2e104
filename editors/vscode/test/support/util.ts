// Test helpers: waiting for a condition (never a fixed sleep), and paths of the repository's binaries.
import * as path from "node:path";

export const extensionRoot = path.resolve(__dirname, "..", "..", "..");
export const repoRoot = path.resolve(extensionRoot, "..", "..");

/** Polls `cond` until it returns a truthy value (returned) or `timeoutMs` passes (throws naming `what`). */
export async function waitFor<T>(what: string, cond: () => T | Promise<T>, timeoutMs = 60_000, detail?: () => string): Promise<NonNullable<T>> {
  const started = Date.now();
  for (;;) {
    const value = await cond();
    if (value) {
      return value as NonNullable<T>;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The built binaries of this repository's Cargo workspace (`cargo build` makes them). */
export function cargoBinary(name: string): string {
  if (name === "openhands-lsp" && process.env.OPENHANDS_LSP_PATH) {
    return process.env.OPENHANDS_LSP_PATH;
  }
  return path.join(repoRoot, "target", "debug", name);
}
