// Start Task from the palette, timed from the Enter that starts it to the agent's first step shown in the
// conversation view; then Stop. Prints {"ms": …}. TASK names the task (a new one each run).
"use strict";
const { run } = require("./lib");

const TASK = process.env.TASK || "Run one command";

/** With WARM=1: until a warm-pool container of the docker backend answers (its agent-server's /health), as for a
 * user who opened VS Code a little while ago. */
async function warmContainer(vs) {
  const { execFileSync } = require("node:child_process");
  const sh = (args) => {
    try {
      return execFileSync("docker", args, { encoding: "utf8" });
    } catch {
      return "";
    }
  };
  return vs.until("a warm container", async () => {
    for (const id of sh(["ps", "-q", "--filter", "label=dev.openhands.lsp.role=pool"]).split("\n").filter(Boolean)) {
      const port = sh(["port", id, "8431/tcp"]).split("\n")[0].split(":").pop();
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok).catch(() => false);
      if (ok) return id;
    }
    return undefined;
  }, 240000, 200);
}

run(async (vs) => {
  const page = vs.page;
  if (process.env.WARM === "1") {
    await warmContainer(vs);
  }
  await vs.palette("OpenHands: Start Task");
  await vs.quickInput("What should the agent do?");
  await page.locator(".quick-input-widget input").first().fill(TASK);
  const started = Date.now();
  await page.keyboard.press("Enter");
  await vs.until("the first step in the conversation view", async () =>
    (await vs.webviewText(TASK)).includes("$ true"), 240000, 20);
  const ms = Date.now() - started;
  await vs.snap("first-step");
  await vs.webviewButton(TASK, "Stop");
  await vs.until("the conversation to stop", async () => /(stopped|finished) ·/.test(await vs.webviewText(TASK)), 60000);
  return { ms };
});
