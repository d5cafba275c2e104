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
    // Closed from the palette with every other editor (the keyboard stays with the workbench, not inside the
    // view), then the file opened again in front.
    const tab = page.locator(".tabs-container .tab", { hasText: `OpenHands: ${TASK}` });
    await vs.palette("View: Close All Editors");
    await vs.until("the view to close", async () => (await tab.count()) === 0);
    await vs.openFile("a.txt");
  });
  const badgeWhileWorking = await badge(page);
  await fetch(`${process.env.LLM_URL}/test/gates/first-step`, { method: "POST" });
  if (process.env.QUIET === "yes") {
    // openhands.notifyWhenAway off: the badge counts it, and no notification comes (looked at after the badge,
    // which the same change shows, and after the view is opened from the palette).
    const counted = await vs.step("badge-only", () =>
      vs.until("the badge to count the finished conversation", async () => {
        const b = await badge(page);
        return b.length > 0 && b;
      }, 240000));
    await vs.step("opened-from-the-palette", async () => {
      await vs.palette("OpenHands: Open Conversation");
      await vs.pickRow(TASK);
      await vs.webviewFrame("done while you were away");
    });
    const shown = (await vs.notifications()).filter((n) => n.includes(TASK));
    return { counted, shown, badgeAfterLooking: (await badge(page)).length === 0 ? "none" : "still" };
  }
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
