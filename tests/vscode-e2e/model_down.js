// The model's address answers nothing: the error says so once, in plain words, naming the address and the setting
// to check, in the notification and in the conversation view.
"use strict";
const { run } = require("./lib");

const TASK = "Say hello";

run(async (vs) => {
  const started = Date.now();
  await vs.step("task-started", async () => {
    await vs.palette("OpenHands: Start Task");
    await vs.answer("What should the agent do?", TASK);
  });
  const note = await vs.step("failed", () => vs.notification("failed", 240000));
  const seconds = (Date.now() - started) / 1000;
  const view = await vs.step("view", () =>
    vs.until("the view to say it failed", async () => {
      const text = await vs.webviewText(TASK);
      return /error ·/.test(text) && text;
    }, 30000));
  return { note, view, seconds, notifications: await vs.notifications() };
});
