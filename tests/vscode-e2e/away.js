"use strict";
// The user looks elsewhere (the conversation's view closed, a file in front) while the agent works: when it
// finishes, a notification says so with what to do next, and the OpenHands view's badge counts it until the user
// opens its view from the notification.
const { run } = require("./lib");

const TASK = "Work while I look away";

async function badge(page) {
  const badges = await page.locator(".activitybar .badge .badge-content").allInnerTexts();
  return badges.map((b) => b.trim()).filter(Boolean);
}

run(async (vs) => {
  const page = vs.page;
  await vs.step("file-open", () => vs.openFile("a.txt"));
  await vs.step("task-started", () => vs.startTask(TASK));
  await vs.webviewFrame(TASK);
  await vs.step("view-closed", async () => {
    // Its tab chosen, then closed as a user does from the palette; the file stays in front.
    const tab = page.locator(".tabs-container .tab", { hasText: `OpenHands: ${TASK}` });
    await tab.click();
    await vs.palette("View: Close Editor");
    await vs.until("the view to close", async () => (await tab.count()) === 0);
  });
  const badgeWhileWorking = await badge(page);
  await fetch(`${process.env.LLM_URL}/test/gates/first-step`, { method: "POST" });
  const told = await vs.step("told", () => vs.notification(`"${TASK}" finished`, 240000));
  const badgeWhenDone = await vs.step("badge", () =>
    vs.until("the badge to count the finished conversation", async () => {
      const b = await badge(page);
      return b.length > 0 && b;
    }));
  await vs.step("opened-from-the-notification", async () => {
    await vs.notificationButton(`"${TASK}" finished`, "Open");
    await vs.webviewFrame("done while you were away");
  });
  const badgeAfterLooking = await vs.step("badge-cleared", () =>
    vs.until("the badge to clear", async () => ((await badge(page)).length === 0 ? "none" : undefined)));
  return { told, badgeWhileWorking, badgeWhenDone, badgeAfterLooking };
});
