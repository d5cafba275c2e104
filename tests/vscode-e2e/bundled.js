// The extension from the platform package, with no server path set and none on PATH: Start Task from the palette
// runs with the server inside the package; the status bar's tooltip says which server runs and where it came from.
"use strict";
const { run } = require("./lib");

const TASK = "Run one command with the bundled server";

run(async (vs) => {
  const page = vs.page;
  await vs.startTask(TASK);
  const view = await vs.step("finished", () => vs.viewSays(TASK, "finished"));
  const tooltip = await vs.step("status-bar-tooltip", async () => {
    const item = page.locator(".statusbar-item", { hasText: "OpenHands" }).first();
    return vs.until("the status bar's tooltip naming the server", async () => {
      await page.mouse.move(0, 0);
      await item.hover();
      const hover = page.locator(".workbench-hover, .monaco-hover").filter({ hasText: "Server:" }).first();
      return (await hover.isVisible().catch(() => false)) && hover.innerText();
    }, 30000, 500);
  });
  return { view, tooltip };
});
