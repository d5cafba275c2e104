// Loaded with `node --require`: makes `require("vscode")` (from the extension and from vscode-languageclient)
// resolve to the stub, as VS Code's extension host makes it resolve to the real API.
import { Module } from "node:module";

const stubPath = require.resolve("./stub/vscode");
const mod = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
const original = mod._resolveFilename;
mod._resolveFilename = function (request: string, ...rest: unknown[]): string {
  return request === "vscode" ? stubPath : original.call(this, request, ...rest);
};
