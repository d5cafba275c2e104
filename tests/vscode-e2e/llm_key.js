// No LLM key yet: Start Task says what to run, once, and starts nothing. The user sets the key from the palette
// (a password box); the next task runs with it.
"use strict";
const { run } = require("./lib");

const TASK = "Say hello";

run(async (vs) => {
  await vs.step("task-without-key", () => vs.startTask(TASK));
  const refused = await vs.step("told-what-to-run", () => vs.notification("LLM", 60000));
  const refusedAll = await vs.notifications();
  await vs.step("key-asked", async () => {
    await vs.palette("OpenHands: Set LLM API Key");
    await vs.quickInput("secret storage");
  });
  const password = await vs.page.locator(".quick-input-widget input").first().getAttribute("type");
  await vs.step("key-saved", async () => {
    await vs.answer("secret storage", process.env.KEY);
    return vs.notification("LLM API key saved");
  });
  await vs.step("task-with-key", () => vs.startTask(TASK));
  const view = await vs.step("finished", () => vs.viewSays(TASK, "finished"));
  const output = await vs.step("logs", async () => {
    await vs.palette("OpenHands: Show Logs");
    return vs.until("the output channel", async () => {
      const text = await vs.page.locator(".panel").first().innerText();
      return text.includes("openhands_lsp") && text;
    });
  });
  return { refused, refusedAll, password, view, output, screen: await vs.page.locator("body").innerText() };
});
