// The model's address answers nothing: the error says so once, in plain words, naming the address and the setting
// to check, in the notification and in the conversation view.
"use strict";
const { run } = require("./lib");

const TASK = "Say hello";

run(async (vs) => {
  const started = Date.now();
  await vs.step("task-started", () => vs.startTask(TASK));
  const note = await vs.step("failed", () => vs.notification("failed", 240000));
  const seconds = (Date.now() - started) / 1000;
  const view = await vs.step("view", () => vs.viewSays(TASK, "error", 30000));
  return { note, view, seconds, notifications: await vs.notifications() };
});
