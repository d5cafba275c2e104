// A multi-root workspace of two repositories (a `.code-workspace`): Start Task from the palette asks which folders
// the task works in, the active file's folder ticked and first; the user ticks the other one too. The agent changes
// both; Review Changes lists both folders' files (the other folder's named by it), a diff opens; Apply Changes from
// the palette applies every file, each in its own folder, and the user saves them.
"use strict";
const { run } = require("./lib");

const TASK = "Bump both versions";

run(async (vs) => {
  const page = vs.page;
  await vs.step("file-open", () => vs.openFile("app.txt"));
  await vs.step("task-asked", async () => {
    await vs.palette("OpenHands: Start Task");
    await vs.answer("What should the agent do?", TASK);
  });
  const folders = await vs.step("folders-asked", () => vs.quickInput("Which folders does the task work in?"));
  const ticked = await page.locator(".quick-input-list .monaco-list-row[aria-checked=true]").allInnerTexts();
  await vs.step("both-ticked", async () => {
    await vs.pickRow("api");
    await vs.until("api to be ticked", async () =>
      (await page.locator(".quick-input-list .monaco-list-row[aria-checked=true]").count()) === 2);
  });
  await vs.step("started", () => vs.ok());
  const view = await vs.step("finished", () => vs.viewSays(TASK, "finished"));

  const review = await vs.step("review-pick", async () => {
    await vs.webviewButton(TASK, "Review Changes");
    return vs.quickInput("Open the diff of a file");
  });
  const diffTab = await vs.step("api-diff", async () => {
    await vs.pickRow("api/api.txt");
    const tab = await vs.waitFor("the diff's tab", () => page.locator(".tabs-container .tab", { hasText: "api/api.txt" }));
    return tab.innerText();
  });

  await vs.step("which-conversation", async () => {
    await vs.palette("OpenHands: Apply Changes");
    await vs.quickInput("of which conversation");
  });
  const pick = await vs.step("apply-asked", async () => {
    await vs.pickRow(TASK);
    return vs.quickInput("Files to apply");
  });
  const toast = await vs.step("applied", async () => {
    await vs.ok();
    return vs.notification("applied");
  });
  await vs.step("saved", async () => {
    await vs.palette("File: Save All Files");
    await vs.until("every tab to be saved", async () => !(await page.locator(".tabs-container .tab.dirty").count()));
  });
  return { folders, ticked, view, review, diffTab, pick, toast };
});
