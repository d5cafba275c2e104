// Start Task from the palette, timed from the Enter that starts it to the agent's first step shown in the
// conversation view; then Stop. RUNS times (default 1), each a new task; prints {"ms": [...]}. With WARM=1 each
// run waits first for a warm container of the docker backend, as a user who opened VS Code a while ago has (the
// warm pool refills after each run).
"use strict";
const { run } = require("./lib");

const TASK = process.env.TASK || "Run one command";
const RUNS = Number(process.env.RUNS || "1");

/** Until the server has said `n` times that a warm container is ready (its log, as the OpenHands output channel
 * shows it): the n-th run starts on a warm container, not on one still warming up. */
async function warmContainers(vs, n) {
  const fs = require("node:fs");
  const path = require("node:path");
  const logs = path.join(process.env.USER_DATA, "logs");
  const said = () => {
    let count = 0;
    const walk = (dir) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name === "OpenHands.log") count += fs.readFileSync(file, "utf8").split("warm pool: a container is ready").length - 1;
      }
    };
    try {
      walk(logs);
    } catch {
      return 0;
    }
    return count;
  };
  return vs.until(`warm container ${n}`, async () => said() >= n, 240000, 100);
}

run(async (vs) => {
  const page = vs.page;
  const ms = [];
  for (let i = 1; i <= RUNS; i++) {
    const task = RUNS > 1 ? `${TASK} (run ${i})` : TASK;
    if (process.env.WARM === "1") {
      await warmContainers(vs, i);
    }
    await vs.palette("OpenHands: Start Task");
    await vs.quickInput("What should the agent do?");
    await page.locator(".quick-input-widget input").first().fill(task);
    const started = Date.now();
    await page.keyboard.press("Enter");
    // The time is read before the step's screenshot is taken.
    const elapsed = await vs.step(`first-step-${i}`, async () => {
      await vs.until("the first step in the conversation view", async () =>
        (await vs.webviewText(task)).includes("$ true"), 240000, 20);
      return Date.now() - started;
    });
    ms.push(elapsed);
    await vs.step(`stopped-${i}`, async () => {
      // A quick agent may finish before the click: then there is nothing left to stop.
      const frame = await vs.webviewFrame(task);
      const stop = frame.getByRole("button", { name: "Stop", exact: true });
      if (!/(stopped|finished) ·/.test(await vs.webviewText(task)) && (await stop.isVisible())) {
        await stop.click({ timeout: 2000 }).catch(() => undefined);
      }
      await vs.until("the conversation to stop", async () => /(stopped|finished) ·/.test(await vs.webviewText(task)), 60000);
    });
  }
  return { ms };
});
