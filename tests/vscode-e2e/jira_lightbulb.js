// A Jira reference in a comment, as a VS Code user meets it: the cursor on its line shows the light bulb, and the
// Quick Fix menu (Ctrl+.) offers `OpenHands: fix PROJ-123 "<title>"`, the title read from Jira. Choosing it starts
// the task on that issue, whose view then says it finished. Then a user who knows a Linear issue's key types it into
// the palette's Fix Issue box.
"use strict";
const { run } = require("./lib");

run(async (vs) => {
  const page = vs.page;
  await vs.step("file-with-a-jira-reference", () => vs.openFile("notes.md"));
  // The project keys are read from Jira once, in the background of the first request: until then the line has no
  // action, so the cursor is put on it again until the bulb shows, as a user would move it.
  await vs.step("light-bulb", () =>
    vs.until("the light bulb on the reference's line", async () => {
      await page.keyboard.press("Control+Home");
      await page.keyboard.press("ArrowDown");
      await page.keyboard.press("End");
      const bulb = page.locator(".lightBulbWidget .codicon, .lightBulbWidget");
      return (await bulb.first().isVisible().catch(() => false)) && true;
    }, 60000, 1000),
  );
  const menu = await vs.step("quick-fix-menu", async () => {
    await page.keyboard.press("Control+.");
    return vs.until("OpenHands' fix in the Quick Fix menu", async () => {
      const text = await page.locator(".action-widget").first().innerText().catch(() => "");
      return text.includes("OpenHands: fix PROJ-123") && text;
    });
  });
  await vs.step("fix-chosen", async () => {
    await page.locator(".action-widget .monaco-list-row", { hasText: "OpenHands: fix PROJ-123" }).first().click();
  });
  const view = await vs.step("issue-view-finished", () => vs.viewSays("Fix PROJ-123", "finished"));
  await vs.step("palette-fix-issue-typed", async () => {
    await vs.palette("OpenHands: Fix Issue...");
    await vs.answer("The issue to fix", "ENG-42");
  });
  const typed = await vs.step("typed-issue-view-finished", () => vs.viewSays("Fix ENG-42", "finished"));
  return { menu, view, typed };
});
