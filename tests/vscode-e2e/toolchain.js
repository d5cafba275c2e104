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
  // A long output comes folded under its command, as the user sees it: opened with a click on the command.
  const opened = async (n, what) => {
    const frame = await vs.webviewFrame(TASK);
    const summary = frame.locator("details.step > summary", { hasText: "$ cargo test" }).nth(n);
    await summary.waitFor({ state: "visible", timeout: 600000 });
    return vs.until(what, async () => {
      if (!(await summary.evaluate((s) => s.parentElement.open))) await summary.click();
      const text = await vs.webviewText(TASK);
      return text.includes(what) && text;
    }, 60000, 500);
  };
  const failed = await vs.step("cargo-test-failed", () => opened(0, "test tests::adds ... FAILED"));
  const passed = await vs.step("cargo-test-passed", () => opened(1, "test result: ok. 1 passed"));
  const view = await vs.step("finished", () => vs.viewSays(TASK, "finished"));
  return { building, failed, passed, view };
});
