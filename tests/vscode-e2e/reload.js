// A finished task's conversation open beside the file; Reload Window: the conversation's tab comes back with its
// history, the list still has it, opening conversations reuses one column, and a message typed in its box goes on
// with it (its sandbox starts again, with what the agent did before).
"use strict";
const { run } = require("./lib");

const TASK = "Say hello";

run(async (vs) => {
  const page = vs.page;
  await vs.step("file-open", () => vs.openFile("a.txt"));
  await vs.step("task-started", () => vs.startTask(TASK));
  await vs.step("finished", () => vs.viewSays(TASK, "finished"));
  const groupsBefore = await page.locator(".editor-group-container").count();

  await vs.step("reloaded", async () => {
    await vs.palette("Developer: Reload Window");
    await page.waitForSelector(".monaco-workbench", { timeout: 60000 });
    await vs.waitFor("the OpenHands status bar item", () => page.locator('.statusbar-item[id*="openhands"]'), 60000);
  });
  const restored = await vs.step("conversation-restored", () =>
    vs.until("the conversation's tab with its history", async () => {
      const text = await vs.webviewText(TASK);
      return text.includes("there") && /finished ·/.test(text) && text;
    }, 60000));
  const groupsAfter = await page.locator(".editor-group-container").count();
  const frame = await vs.webviewFrame(TASK);
  const box = await frame.locator("#message").evaluate((t) => ({ disabled: t.disabled, placeholder: t.placeholder }));
  const offered = await frame.evaluate(() =>
    [...document.querySelectorAll("nav button")].filter((b) => !b.hidden && b.offsetParent !== null).map((b) => b.textContent));
  const emptyGroups = await page.locator(".editor-group-container.empty").count();

  // The list has it, from the earlier session, with its changed files counted and Review offered on its row
  // before anyone expands it.
  const row = await vs.step("list", async () => {
    await vs.palette("OpenHands: Show Conversations");
    const found = await vs.waitFor("the conversation in the list, its changes counted", () =>
      page.locator(".monaco-list-row", { hasText: "1 file changed" }).filter({ hasText: TASK }), 30000);
    await found.hover();
    await vs.waitFor("Review Changes on the row", () =>
      found.locator('.action-label[aria-label*="Review Changes"]'), 10000);
    return found.getAttribute("aria-label");
  });
  const tooltip = await vs.step("tooltip", async () => {
    await page.locator(".monaco-list-row", { hasText: TASK }).first().locator(".label-name").first().hover();
    const hover = await vs.waitFor("the row's tooltip", () => page.locator(".workbench-hover, .monaco-hover").filter({ hasText: "hello" }), 15000);
    return hover.innerText();
  });
  // Opened again from the palette: the same tab, no new column.
  await vs.step("opened-again", async () => {
    await vs.palette("OpenHands: Open Conversation");
    await vs.quickInput("Open which conversation?");
    await vs.pickRow(TASK);
  });
  const groupsLast = await page.locator(".editor-group-container").count();
  const tabs = await page.locator(".tabs-container .tab", { hasText: `OpenHands: ${TASK}` }).count();
  // Going on: typed in the view's box, as after any turn.
  await vs.step("message-typed", async () => {
    const view = await vs.webviewFrame(TASK);
    await view.locator("#message").fill("And say it again");
    await view.locator("#message").press("Enter");
  });
  const wentOn = await vs.step("went-on", () =>
    vs.until("the second turn's step and its end in the view", async () => {
      const text = await vs.webviewText(TASK);
      return text.includes("echo again") && text.includes("said again after the reload") && /finished ·/.test(text) && text;
    }, 240000));
  // As a conversation of an openhands-lsp from before the agent's memory was kept has it (no record of the
  // agent-server's): after another reload (the server that ran it keeps its record as it exits, so the record goes
  // once it is gone) and a refresh of the list, the box says why it cannot go on.
  const fs = require("fs");
  const path = require("path");
  await vs.step("reloaded-again", async () => {
    await vs.palette("Developer: Reload Window");
    await page.waitForSelector(".monaco-workbench", { timeout: 60000 });
    await vs.waitFor("the OpenHands status bar item", () => page.locator('.statusbar-item[id*="openhands"]'), 60000);
  });
  const conversations = path.join(process.env.STATE, "openhands-lsp", "conversations");
  for (const id of fs.readdirSync(conversations)) {
    fs.rmSync(path.join(conversations, id, "agent"), { recursive: true, force: true });
  }
  // The list's own refresh button (the conversations view is open beside the editor).
  await vs.step("refreshed", async () => {
    const refresh = await vs.waitFor("the list's Refresh button", () =>
      page.locator('.action-label[aria-label*="Refresh Conversations"]'), 30000);
    await refresh.first().click();
  });
  const oldBox = await vs.step("cannot-go-on", () =>
    vs.until("the box saying why it cannot go on", async () => {
      const view = await vs.webviewFrame(TASK);
      const box = await view.locator("#message").evaluate((t) => ({ disabled: t.disabled, placeholder: t.placeholder }));
      return box.placeholder.includes("cannot go on") && box;
    }, 60000));
  return {
    groupsBefore, groupsAfter, emptyGroups, groupsLast, tabs, restored, row, box, offered, tooltip, wentOn, oldBox,
    console: vs.console,
  };
});
