// Rewrites contributes.configuration.properties in package.json from the server's own description of its settings
// (`openhands-lsp generate vscode-settings`), keeping the settings only this extension reads. Run after a server
// setting changes: `npm run sync-settings` (the unit tests fail until then).
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const { serverBinaryForTests, EXTENSION_ONLY_SETTINGS } = require("./settings-source");

const manifest = path.join(__dirname, "..", "package.json");
const pkg = JSON.parse(fs.readFileSync(manifest, "utf8"));
const generated = JSON.parse(execFileSync(serverBinaryForTests(), ["generate", "vscode-settings"], { encoding: "utf8" }));
const own = Object.fromEntries(
  Object.entries(pkg.contributes.configuration.properties).filter(([key]) => EXTENSION_ONLY_SETTINGS.includes(key)),
);
const merged = { ...generated, ...own };
pkg.contributes.configuration.properties = Object.fromEntries(
  Object.entries(merged).sort(([, a], [, b]) => (a.order ?? 0) - (b.order ?? 0)),
);
fs.writeFileSync(manifest, JSON.stringify(pkg, null, 2) + "\n");
process.stdout.write(`package.json: ${Object.keys(merged).length} settings\n`);
