// The editor's problems as the agent's context, and what the agent costs, as a VS Code user sees them: the secret an
// MCP server of the settings names, set from the palette (the agent gets the server's tools); a JSON file
// with errors (VS Code's own JSON support reports them), "OpenHands: Fix Problems in File" from the palette; the
// budget question in a notification, answered "Raise"; the cost and tokens on the conversation's row, in its view's
// header and, for the session, in the status bar's tooltip.
"use strict";
const { run } = require("./lib");

const TASK = "problems in bad.json";

run(async (vs) => {
  const page = vs.page;
  await vs.step("mcp-secret", async () => {
    await vs.palette("OpenHands: Set MCP Server Secret...");
    await vs.quickInput("Which secret?");
    await vs.pickRow("SHOUT_TOKEN");
    await vs.answer("The value of SHOUT_TOKEN", process.env.MCP_TOKEN);
    await vs.notification("OpenHands: SHOUT_TOKEN saved.");
  });
  await vs.step("file-with-problems", async () => {
    await vs.openFile("bad.json");
    await vs.until("VS Code's squiggles under the errors", async () => (await page.locator(".squiggly-error").count()) > 0, 60000);
  });
  await vs.step("fix-problems-from-the-palette", () => vs.palette("OpenHands: Fix Problems in File"));

  // Past 25 tokens the agent pauses and asks: the view says why, the notification asks.
  const question = await vs.step("budget-question", () => vs.notification("of its budget of 25 tokens", 240000));
  const pausedHeader = await vs.viewSays(TASK, "paused", 60000);
  await vs.step("budget-raised", async () => {
    await vs.notificationButton("of its budget of 25 tokens", "Raise by 25 tokens and go on");
    await vs.viewSays(TASK, "finished");
  });
  const view = await vs.webviewText(TASK);

  const row = await vs.step("row-with-cost", async () => {
    await vs.palette("OpenHands: Show Conversations");
    return vs.until("the row's cost", async () => {
      const text = await page.locator(".monaco-list-row", { hasText: TASK }).first().innerText().catch(() => "");
      return text.includes("tokens") && text;
    });
  });
  const tooltip = await vs.step("status-bar-tooltip", () => vs.statusTooltip("This session"));
  return { question, pausedHeader, view, row, tooltip };
});
