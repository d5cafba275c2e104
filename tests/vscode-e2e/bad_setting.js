// A setting the server cannot use: one warning, naming the key in words a user understands; the server's log in
// the OpenHands output channel keeps its levels.
"use strict";
const { run } = require("./lib");

run(async (vs) => {
  const page = vs.page;
  const note = await vs.step("warned", () => vs.notification("openhands.maxIterations", 60000));
  await vs.step("logs", async () => {
    await vs.palette("OpenHands: Show Logs");
    await vs.waitFor("the output channel", () => page.locator(".output-view, .panel .monaco-editor"), 30000);
  });
  const output = await vs.step("log-lines", () =>
    vs.until("the server's lines in the output channel", async () => {
      const text = await page.locator(".panel").first().innerText();
      return text.includes("openhands_lsp") && text;
    }));
  return { note, output, notifications: await vs.notifications() };
});
