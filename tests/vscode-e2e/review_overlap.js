// Review Changes opens a file's diff; the user has meanwhile changed a.txt where the agent did (and saved);
// Apply Changes applies the other file and refuses a.txt, saying so once, the user's text kept.
"use strict";
const { run } = require("./lib");

const TASK = "Shout the last lines";

run(async (vs) => {
  const page = vs.page;
  await vs.step("task-started", () => vs.startTask(TASK));
  await vs.step("finished", () => vs.viewSays(TASK, "finished"));

  // Review: two files, a pick; a.txt's diff opens.
  await vs.step("review-asked", async () => {
    await vs.webviewButton(TASK, "Review Changes");
    await vs.quickInput("Open the diff of a file");
  });
  const diff = await vs.step("diff-open", async () => {
    await vs.pickRow("a.txt");
    await vs.waitFor("the diff editor", () => page.locator(".monaco-diff-editor"), 30000);
    // Both sides drawn (the agent's line on the right), as the user sees them: not an empty frame.
    await vs.until("the diff's lines", async () =>
      /THREE/.test(await page.locator(".monaco-diff-editor .modified .view-lines").first().innerText().catch(() => "")), 30000);
    const tab = await vs.waitFor("the diff's tab", () => page.locator(".tabs-container .tab.active"), 10000);
    return tab.innerText();
  });
  const diffText = await page.locator(".monaco-diff-editor").first().innerText();

  // The user's own change of the same line, saved.
  await vs.step("user-edit", async () => {
    await vs.openFile("a.txt");
    await page.keyboard.press("Control+End");
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("End");
    await page.keyboard.type("!");
    await page.keyboard.press("Control+S");
    await vs.until("the tab to be saved", async () =>
      !(await page.locator(".tabs-container .tab.dirty", { hasText: "a.txt" }).count()));
  });

  await vs.step("apply-asked", async () => {
    await vs.palette("OpenHands: Apply Changes");
    await vs.quickInput("of which conversation");
    await vs.pickRow(TASK);
    await vs.quickInput("Files to apply");
  });
  const refused = await vs.step("applied-and-refused", async () => {
    await vs.ok();
    await vs.notification("applied 1 file");
    return vs.notification("not applied");
  });
  const editor = await vs.editorText();
  const notifications = await vs.notifications();
  // The conversation shows what the agent was told about it: a note, not a message of the user's.
  const view = await vs.step("note-in-the-view", async () => {
    await page.locator(".tabs-container .tab", { hasText: "OpenHands: " + TASK }).first().click();
    return vs.until("the note to the agent", async () => {
      const text = await vs.webviewText(TASK);
      return text.includes("Note to the agent") && text;
    });
  });
  return { diff, diffText, refused, editor, notifications, view };
});
