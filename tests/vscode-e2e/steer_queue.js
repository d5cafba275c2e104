"use strict";
// While the agent works, from the conversation view's box as a user types: Alt+Enter queues a message (shown under
// "Queued for after this turn"), the Queue button too, Take back returns one to the box, Enter steers the running
// turn. The turn goes on with the steered message; the queued one starts the next turn.
const { run } = require("./lib");

const TASK = "Work for a while";

async function llmRequests() {
  return Number(await (await fetch(`${process.env.LLM_URL}/test/requests`)).text());
}

async function queuedTexts(frame) {
  return frame.evaluate(() => [...document.querySelectorAll("#queued li .text")].map((t) => t.textContent));
}

run(async (vs) => {
  await vs.step("task-started", () => vs.startTask(TASK));
  await vs.until("the agent's first LLM call", async () => (await llmRequests()) >= 1, 240000);
  const frame = await vs.webviewFrame(TASK);
  const box = frame.locator("#message");
  const working = await vs.step("working", async () => {
    await frame.locator("#queue-button").waitFor({ state: "visible", timeout: 60000 });
    return frame.evaluate(() => ({
      send: document.getElementById("send-button").textContent,
      hint: document.getElementById("mode-hint").innerText,
      placeholder: document.getElementById("message").placeholder,
    }));
  });

  await vs.step("queued-with-alt-enter", async () => {
    await box.click();
    await box.fill("Then do QUEUED-NEXT");
    await box.press("Alt+Enter");
    await vs.until("the queued message shown", async () => (await queuedTexts(frame)).length === 1);
  });
  const boxAfterQueue = await box.inputValue();
  await vs.step("queued-with-the-button", async () => {
    await box.fill("TAKEN-BACK text");
    await frame.locator("#queue-button").click();
    await vs.until("two queued messages", async () => (await queuedTexts(frame)).length === 2);
  });
  const bothQueued = await queuedTexts(frame);
  await vs.step("taken-back", async () => {
    await frame.locator("#queued li", { hasText: "TAKEN-BACK" }).getByRole("button", { name: "Take back" }).click();
    await vs.until("one queued message left", async () => (await queuedTexts(frame)).length === 1);
  });
  const boxAfterTakeBack = await box.inputValue();

  await vs.step("steered", async () => {
    await box.fill("Also mention STEERED-DOCS");
    await box.press("Enter");
    await fetch(`${process.env.LLM_URL}/test/gates/first-step`, { method: "POST" });
    await vs.until("the box to empty once the agent has it", async () => (await box.inputValue()) === "", 120000);
  });
  const finished = await vs.step("queued-turn-finished", async () => {
    await vs.until("the queued message's turn", async () => (await vs.webviewText(TASK)).includes("second turn"), 240000);
    return vs.viewSays(TASK, "finished");
  });
  const queuedAtEnd = await queuedTexts(frame);
  const after = await frame.evaluate(() => ({
    send: document.getElementById("send-button").textContent,
    queueHidden: document.getElementById("queue-button").hidden,
  }));
  return { working, boxAfterQueue, bothQueued, boxAfterTakeBack, queuedAtEnd, after, view: finished };
});
