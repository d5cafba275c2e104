// Iterate and apply, as a user works: a task from the palette; its change applied from the conversation view's
// Apply Changes; a message from the view's box asks for more on the same line; Apply Changes again applies that
// too (it used to be refused as an overlap with the user's own edits), and the pick lists only the file not applied.
"use strict";
const { run } = require("./lib");

const TASK = "Make the last line shout";

async function applyFromTheView(vs, label) {
  const pick = await vs.step(`${label}-asked`, async () => {
    await vs.webviewButton(TASK, "Apply Changes");
    return vs.quickInput("Files to apply");
  });
  const toast = await vs.step(`${label}-applied`, async () => {
    await vs.ok();
    return vs.notification("applied");
  });
  await vs.step(`${label}-saved`, async () => {
    await vs.dismissNotification("applied");
    await vs.palette("File: Save All Files");
    await vs.until("every tab saved", async () => !(await vs.page.locator(".tabs-container .tab.dirty").count()));
  });
  return { pick, toast };
}

run(async (vs) => {
  await vs.step("task-started", () => vs.startTask(TASK));
  await vs.step("first-finished", () => vs.viewSays(TASK, "finished"));
  const first = await applyFromTheView(vs, "first");

  const frame = await vs.webviewFrame(TASK);
  await vs.step("more-asked", async () => {
    await frame.locator("#message").fill("Louder, and a note in b.txt");
    await frame.locator("#message").press("Enter");
  });
  const view = await vs.step("second-finished", () =>
    vs.until("the second turn's end", async () => {
      const text = await vs.webviewText(TASK);
      return text.includes("louder done") && /finished ·/.test(text) && text;
    }, 240000));
  const second = await applyFromTheView(vs, "second");
  await vs.step("file-shown", () => vs.openFile("a.txt"));
  const text = await vs.editorText();
  return { first, second, view, text, notifications: await vs.notifications() };
});
