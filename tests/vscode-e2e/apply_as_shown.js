// A task started from a selection in a file, watched to its end in the conversation view; meanwhile the user
// edits the file elsewhere; Apply Changes from the palette, the files as shown in its pick: the agent's change
// lands beside the user's edit, in one step, and the user saves.
"use strict";
const { run } = require("./lib");

run(async (vs) => {
  const page = vs.page;
  await vs.step("file-open", () => vs.openFile("a.txt"));
  await vs.step("selected", () => page.keyboard.press("Control+A"));
  await vs.step("task-asked", async () => {
    await vs.palette("OpenHands: Start Task with Selection");
    await vs.quickInput("What should the agent do?");
  });
  await vs.step("task-started", () => vs.answer("What should the agent do?", "Make the last line shout"));
  const view = await vs.step("conversation-finished", () =>
    vs.until("the conversation view to say it finished", async () => {
      const text = await vs.webviewText("Make the last line shout");
      return /finished ·/.test(text) && text;
    }, 240000),
  );

  // The user's own edit, away from the agent's, not saved.
  // Typed into the editor's text, as a user clicks into it: a click on the tab alone can leave the keyboard with the
  // conversation view (seen once on a loaded machine: the line went nowhere).
  await vs.step("user-edit", async () => {
    await page.locator(".tabs-container .tab", { hasText: "a.txt" }).first().click();
    await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
    await vs.until("the editor to have the keyboard", () =>
      page.evaluate(() => !!document.activeElement?.closest(".editor-instance .monaco-editor")));
    await page.keyboard.press("Control+Home");
    await page.keyboard.type("zero");
    await page.keyboard.press("Enter");
    await vs.until("the user's line in the editor", async () => (await vs.editorText()).startsWith("zero\none"));
  });

  // Apply Changes from the palette: which conversation (the palette does not know), then its files, all ticked.
  await vs.step("which-conversation", async () => {
    await vs.palette("OpenHands: Apply Changes");
    await vs.quickInput("of which conversation");
  });
  const pick = await vs.step("apply-asked", async () => {
    await vs.pickRow("Make the last line shout");
    return vs.quickInput("Files to apply");
  });
  const toast = await vs.step("applied", async () => {
    await vs.ok();
    return vs.notification("applied");
  });
  const text = await vs.step("editor-after", () =>
    vs.until("the agent's line in the editor", async () => {
      const t = await vs.editorText();
      return t.includes("FIVE") && t;
    }),
  );
  await vs.step("saved", async () => {
    await page.keyboard.press("Control+S");
    await vs.until("the tab to be saved", async () =>
      !(await page.locator(".tabs-container .tab.dirty", { hasText: "a.txt" }).count()));
  });
  // The agent-server's port is the extension's business: it is not forwarded or offered to the user. (Other
  // programs on this machine may be: the processes behind the forwarded ports are named.)
  const label = await page.locator("#status\\.forwardedPorts").getAttribute("aria-label");
  const { execFileSync } = require("node:child_process");
  const listening = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" });
  const ports = (label.match(/\d+/g) || []).map((port) => {
    const line = listening.split("\n").find((l) => l.includes(`:${port} `)) || "";
    const pid = (line.match(/pid=(\d+)/) || [])[1];
    let command = "";
    try {
      command = pid ? require("node:fs").readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ") : "";
    } catch {}
    return { port, command };
  });
  return { view, pick, toast, text, ports, notifications: await vs.notifications() };
});
