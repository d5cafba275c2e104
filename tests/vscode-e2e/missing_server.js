// The server binary the settings name is not there: one notification says so in plain words and how to fix it;
// its Open Settings button opens the settings where the path can be set (in this remote window: the Remote tab).
"use strict";
const { run } = require("./lib");

run(async (vs) => {
  const page = vs.page;
  const note = await vs.step("not-found", () => vs.notification("not an executable file", 60000));
  const shown = await vs.notifications();
  await vs.step("settings-opened", async () => {
    await vs.notificationButton("not an executable file", "Open Settings");
    await vs.waitFor("the settings editor", () => page.locator(".settings-editor"), 30000);
  });
  const settings = await vs.step("setting-shown", () =>
    vs.until("the setting in the settings editor", async () => {
      const text = await page.locator(".settings-editor").innerText();
      return text.includes("Server: Path") && text;
    }));
  const count = await page.locator(".settings-editor .settings-count-widget").innerText().catch(() => "");
  // The list of conversations, empty: its welcome text.
  const welcome = await vs.step("welcome", async () => {
    await page.keyboard.press("Escape");
    await vs.palette("OpenHands: Show Conversations");
    const view = await vs.waitFor("the welcome view", () => page.locator(".welcome-view-content", { hasText: "No conversations yet" }), 30000);
    return view.innerText();
  });
  return { note, settings, count, welcome, notifications: shown };
});
