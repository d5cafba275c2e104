// The extension from the platform package, with no server path set and none on PATH: Start Task from the palette
// runs with the server inside the package; the status bar's tooltip says which server runs and where it came from.
"use strict";
const { run } = require("./lib");

const TASK = "Run one command with the bundled server";

run(async (vs) => {
  await vs.startTask(TASK);
  const view = await vs.step("finished", () => vs.viewSays(TASK, "finished"));
  const tooltip = await vs.step("status-bar-tooltip", () => vs.statusTooltip("Server:"));
  return { view, tooltip };
});
