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
  await vs.step("task-started", async () => {
    await vs.palette("OpenHands: Start Task");
    await vs.answer("What should the agent do?", TASK);
  });
  await vs.step("first-step", () =>
    vs.until("the first command's output", async () => (await vs.webviewText(TASK)).includes("before-pause\n"), 240000));
  const whileRunning = await buttons(vs);
  const spinWhileRunning = await spinning(page);

  await vs.step("paused", async () => {
    await vs.webviewButton(TASK, "Pause");
    await vs.until("the view to say paused", async () => /paused ·/.test(await vs.webviewText(TASK)), 60000);
  });
  const whilePaused = await buttons(vs);
  const spinWhilePaused = await vs.until("the spinner to stop", async () => ((await spinning(page)) === 0 ? "stopped" : undefined));

  await vs.step("resumed", async () => {
    await vs.webviewButton(TASK, "Resume");
    await vs.until("the agent to finish", async () => /finished ·/.test(await vs.webviewText(TASK)), 240000);
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

  // Another message; the model takes long; Stop.
  await vs.step("second-message", async () => {
    await frame.locator("#message").fill("and then stop");
    await frame.locator("#message").press("Enter");
    await vs.until("the agent to work again", async () => /running ·/.test(await vs.webviewText(TASK)), 60000);
  });
  await vs.step("stopped", async () => {
    await vs.webviewButton(TASK, "Stop");
    await vs.until("the view to say stopped", async () => /stopped ·/.test(await vs.webviewText(TASK)), 60000);
  });
  const whenStopped = await buttons(vs);
  const view = await vs.webviewText(TASK);
  return { whileRunning, spinWhileRunning, whilePaused, spinWhilePaused, whenFinished, box, whenStopped, view };
});
