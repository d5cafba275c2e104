// Pause, Resume, Send Message and Stop from the conversation view, as a user clicks them: each shows in the view
// and on the status bar, and only the buttons that can work are offered.
"use strict";
const { run } = require("./lib");

const TASK = "Work slowly";

/** The buttons the view offers now. */
async function buttons(vs) {
  const frame = await vs.webviewFrame(TASK);
  return frame.evaluate(() =>
    [...document.querySelectorAll("nav.actions button")].filter((b) => !b.hidden).map((b) => b.textContent));
}

async function spinning(page) {
  return page.locator(".statusbar .codicon-modifier-spin, .statusbar [class*='~spin']").count();
}

run(async (vs) => {
  const page = vs.page;
  await vs.step("task-started", () => vs.startTask(TASK));
  await vs.step("first-step", () =>
    vs.until("the first command's output", async () => (await vs.webviewText(TASK)).includes("before-pause\n"), 240000));
  const whileRunning = await buttons(vs);
  const spinWhileRunning = await spinning(page);

  await vs.step("paused", async () => {
    await vs.webviewButton(TASK, "Pause");
    await vs.viewSays(TASK, "paused", 60000);
  });
  const whilePaused = await buttons(vs);
  const spinWhilePaused = await vs.until("the spinner to stop", async () => ((await spinning(page)) === 0 ? "stopped" : undefined));

  await vs.step("resumed", async () => {
    await vs.webviewButton(TASK, "Resume");
    await vs.viewSays(TASK, "finished");
  });
  const whenFinished = await buttons(vs);

  // A message from the view's box: sent, shown, answered; the box empties once the agent has it.
  const frame = await vs.webviewFrame(TASK);
  await vs.step("message-typed", async () => {
    await frame.locator("#message").fill("one more thing");
    await frame.locator("#message").press("Enter");
  });
  const box = await vs.step("message-answered", async () => {
    await vs.until("the agent's answer", async () => (await vs.webviewText(TASK)).includes("noted"), 240000);
    return frame.locator("#message").inputValue();
  });

  // Another message, from the list of conversations (its row's menu): the status bar says it went. The model
  // takes long: the status bar says the agent waits for it. Then Stop.
  const sent = await vs.step("second-message-from-the-list", async () => {
    await vs.palette("OpenHands: Show Conversations");
    // Rarely (once in CI, once in 20 runs here) the menu's click did not reach VS Code: no input
    // box came. A user clicks again; so does this step, after saving the screen as it was (`*-menu-missed.png`).
    for (let attempt = 1; ; attempt++) {
      const row = await vs.waitFor("the conversation's row", () => page.locator(".monaco-list-row", { hasText: TASK }), 30000);
      await row.click({ button: "right" });
      const item = await vs.waitFor("Send Message in the row's menu", () =>
        page.locator(".monaco-menu .action-menu-item", { hasText: "Send Message" }), 10000);
      await item.hover();
      await item.click();
      try {
        await vs.quickInput("Your message to the agent", 10000);
        break;
      } catch (e) {
        if (attempt >= 2) {
          throw e;
        }
        await vs.snap("menu-missed");
        console.error(`Send Message from the row's menu showed no input box (attempt ${attempt}): clicking again`);
        await page.keyboard.press("Escape");
      }
    }
    await vs.answer("Your message to the agent", "and then stop");
    return vs.until("the status bar to say it was sent", async () => {
      const text = await page.locator(".statusbar").innerText();
      return text.includes("message sent to") && text;
    }, 10000, 50);
  });
  const waitingForModel = await vs.step("waiting-for-the-model", () =>
    vs.until("the status bar to say the agent waits for the model", async () => {
      const text = await page.locator(".statusbar").innerText();
      return text.includes("waiting for the model") && text;
    }, 60000));
  // The view's header while the new turn runs: its state, not the last turn's message.
  const waitingView = await vs.webviewText(TASK);
  await vs.step("stopped", async () => {
    await vs.webviewButton(TASK, "Stop");
    await vs.viewSays(TASK, "stopped", 60000);
  });
  const whenStopped = await buttons(vs);
  const view = await vs.webviewText(TASK);
  return { sent, waitingForModel, waitingView, whileRunning, spinWhileRunning, whilePaused, spinWhilePaused, whenFinished, box, whenStopped, view };
});
