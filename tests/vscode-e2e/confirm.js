// The agent asks before risky commands. The first question is answered from its notification; the second is
// dismissed (closed, unanswered) and answered later from the conversation view; the third from the palette,
// rejected with a reason. Nothing runs that the user did not allow.
"use strict";
const { run } = require("./lib");

const TASK = "Run the checks";

run(async (vs) => {
  const page = vs.page;
  await vs.step("task-asked", async () => {
    await vs.palette("OpenHands: Start Task");
    await vs.quickInput("What should the agent do?");
  });
  await vs.step("task-started", () => vs.answer("What should the agent do?", TASK));

  await vs.step("first-question", () => vs.notification("echo first-check", 240000));
  await vs.step("first-allowed", () => vs.notificationButton("echo first-check", "Allow"));
  await vs.step("first-ran", () =>
    vs.until("the first command's output", async () => (await vs.webviewText(TASK)).includes("first-check\n"), 240000));

  await vs.step("second-question", () => vs.notification("echo second-check", 240000));
  await vs.step("second-dismissed", () => vs.dismissNotification("echo second-check"));
  // Still waiting: the view offers the answer.
  const waiting = await vs.step("second-waits-in-the-view", () =>
    vs.until("the view's question", async () => {
      const text = await vs.webviewText(TASK);
      return text.includes("The agent waits for your answer") && text;
    }));
  await vs.step("second-allowed-from-the-view", () => vs.webviewButton(TASK, "Allow"));
  await vs.step("second-ran", () =>
    vs.until("the second command's output", async () => (await vs.webviewText(TASK)).includes("second-check\n"), 240000));

  await vs.step("third-question", () => vs.notification("rm -rf build", 240000));
  await vs.step("third-dismissed", () => vs.dismissNotification("rm -rf build"));
  await vs.step("third-asked-from-the-palette", async () => {
    await vs.palette("OpenHands: Answer the Agent's Question");
    await vs.quickInput("waits for your answer");
  });
  await vs.step("third-rejected", async () => {
    await vs.pickRow("Reject");
    await vs.answer("Why not?", "not the build folder");
  });
  // The fourth from the list of conversations: its row offers the answer (inline Allow / Reject).
  await vs.step("fourth-question", () => vs.notification("echo fourth-check", 240000));
  await vs.step("fourth-dismissed", () => vs.dismissNotification("echo fourth-check"));
  const rowActions = await vs.step("fourth-allowed-from-the-tree", async () => {
    await vs.palette("OpenHands: Show Conversations");
    const row = await vs.waitFor("the waiting conversation's row", () =>
      page.locator(".monaco-list-row", { hasText: TASK }), 30000);
    await row.hover();
    const allow = await vs.waitFor("Allow on the row", () => row.locator('.action-label[aria-label="Allow"]'), 10000);
    const labels = await row.locator(".actions .action-label").evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")));
    await allow.click();
    return labels;
  });
  await vs.step("fourth-ran", () =>
    vs.until("the fourth command's output", async () => (await vs.webviewText(TASK)).includes("fourth-check\n"), 240000));
  const view = await vs.step("finished", () => vs.viewSays(TASK, "finished"));
  return { waiting, rowActions, view, notifications: await vs.notifications() };
});
