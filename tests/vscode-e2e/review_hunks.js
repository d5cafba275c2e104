// Review per hunk, then a checkpoint restored, as a user does it: the tree says how many changes wait; in a.txt's
// diff each of the agent's changes has Apply and Reject… above it (CodeLens); the first is applied, the second
// rejected with a reason; then, in the conversation view, "Restore to here" on the first step puts the agent back
// there (asked first, in a dialog).
"use strict";
const { run } = require("./lib");

const TASK = "Shout two lines";

run(async (vs) => {
  const page = vs.page;
  await vs.step("task-started", () => vs.startTask(TASK));
  await vs.step("finished", () => vs.viewSays(TASK, "finished"));

  const row = await vs.step("tree-counts-changes", async () => {
    await vs.palette("OpenHands: Show Conversations");
    const found = await vs.waitFor("the conversation's row with its changes to review", () =>
      page.locator(".monaco-list-row", { hasText: "3 changes to review" }).filter({ hasText: TASK }), 60000);
    return found.innerText();
  });

  const lenses = await vs.step("diff-with-lenses", async () => {
    await vs.webviewButton(TASK, "Review Changes");
    await vs.quickInput("Open the diff of a file");
    await vs.pickRow("a.txt");
    await vs.waitFor("the diff editor", () => page.locator(".monaco-diff-editor"), 30000);
    await vs.until("the diff's lines", async () =>
      /LINE.TEN/.test(await page.locator(".monaco-diff-editor .modified .view-lines").first().innerText().catch(() => "")), 30000);
    return vs.until("a lens over each change", async () => {
      const texts = await page.locator(".monaco-diff-editor .modified .codelens-decoration").allInnerTexts();
      return texts.filter((t) => t.includes("Reject")).length === 2 && texts;
    }, 30000);
  });

  await vs.step("first-applied", async () => {
    await page.locator(".monaco-diff-editor .modified .codelens-decoration a", { hasText: "Apply" })
      .filter({ hasNotText: "all" }).first().click();
    await vs.notification("applied 1 change to a.txt");
    // What was applied is no change any more: it leaves the diff (both sides say LINE TWO), one change is left.
    await vs.until("the applied change to leave the diff", async () => {
      const original = await page.locator(".monaco-diff-editor .original .view-lines").first().innerText().catch(() => "");
      const lenses = await page.locator(".monaco-diff-editor .modified .codelens-decoration").allInnerTexts();
      return /LINE.TWO/.test(original) && lenses.filter((t) => t.includes("Reject")).length === 1;
    }, 30000);
  });

  const rejected = await vs.step("second-rejected", async () => {
    await page.locator(".monaco-diff-editor .modified .codelens-decoration a", { hasText: "Reject" }).first().click();
    await vs.answer("Why not?", "keep ten as it is");
    return vs.notification("rejected the change to a.txt");
  });
  // Taken out of the agent's copy: the diff no longer shows it, and no lens offers it any more.
  await vs.step("diff-without-the-rejected", async () =>
    vs.until("the rejected change to leave the diff and its lenses", async () => {
      // Nothing of a.txt is left to review: its diff shows the same text on both sides, or has closed.
      const open = await page.locator(".monaco-diff-editor .modified .view-lines").count();
      const text = open ? await page.locator(".monaco-diff-editor .modified .view-lines").first().innerText().catch(() => "LINE TEN") : "";
      const lenses = await page.locator(".monaco-diff-editor .modified .codelens-decoration").allInnerTexts();
      return !/LINE.TEN/.test(text) && !lenses.some((l) => l.includes("Reject"));
    }, 30000));

  const steps = await vs.step("view-with-checkpoints", async () => {
    await vs.palette("OpenHands: Open Conversation");
    await vs.pickRow(TASK);
    await vs.webviewFrame("Restore to here");
    return vs.webviewText(TASK);
  });
  const restored = await vs.step("restore-asked", async () => {
    const frame = await vs.webviewFrame("Restore to here");
    await frame.getByRole("button", { name: "Restore to here" }).first().click();
    const dialog = await vs.waitFor("the restore question", () => page.locator(".monaco-dialog-box", { hasText: "checkpoint 1" }), 15000);
    return dialog.innerText();
  });
  await vs.step("restored", async () => {
    await page.locator(".monaco-dialog-box .monaco-button", { hasText: /^Restore$/ }).click();
    await vs.notification("is back at checkpoint 1");
  });
  const view = await vs.step("view-after-restore", async () =>
    vs.until("the view to show the files at checkpoint 1", async () => {
      const text = await vs.webviewText(TASK);
      return text.includes("Checkpoint 1 · the files are here") && !text.includes("Checkpoint 2") && text;
    }, 30000));
  return { row, lenses, rejected, steps, restored, view, notifications: await vs.notifications() };
});
