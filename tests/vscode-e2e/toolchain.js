// A Rust crate with a dev container, on the docker backend: Start Task from the palette; the dev container's image
// is built, its steps shown as the task's progress; then the agent's `cargo test` fails in the conversation view, it
// fixes the code, and `cargo test` passes there; the view's header names the image it ran in.
"use strict";
const { run } = require("./lib");

const TASK = "Make the failing test pass";

run(async (vs) => {
  const page = vs.page;
  await vs.step("task-started", () => vs.startTask(TASK));
  // The build's progress, where VS Code shows a language server's progress.
  const building = await vs.step("building", () =>
    vs.until("the build's progress", async () => {
      const text = await page.locator("body").innerText();
      const line = text.split("\n").find((l) => l.includes("building the image of .devcontainer/devcontainer.json"));
      return line || undefined;
    }, 240000, 50));
  const failed = await vs.step("cargo-test-failed", () =>
    vs.until("cargo's failing test in the view", async () => {
      const text = await vs.webviewText(TASK);
      return text.includes("test tests::adds ... FAILED") && text;
    }, 600000));
  const passed = await vs.step("cargo-test-passed", () =>
    vs.until("cargo's passing test in the view", async () => {
      const text = await vs.webviewText(TASK);
      return text.includes("test result: ok. 1 passed") && text;
    }, 300000));
  const view = await vs.step("finished", () => vs.viewSays(TASK, "finished"));
  return { building, failed, passed, view };
});
