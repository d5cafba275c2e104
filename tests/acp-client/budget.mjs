// The budget over ACP: past `maxBudgetPerTask` the agent is paused inside the turn and the panel asks (a permission
// request with the figures): the user raises it once, and stops at the raised limit; the turn ends `max_tokens`.
import { methods } from "@agentclientprotocol/sdk";
import { run, startAgent } from "./editor.mjs";

run(async () => {
  const budgetAnswers = ["raise_budget", "stop"];
  const answer = (req) => (req.options.some((o) => o.optionId === "raise_budget") ? budgetAnswers.shift() ?? "cancelled" : "reject_once");
  const editor = startAgent({ answer });
  await editor.initialize();
  const { sessionId: id } = await editor.agent.request(methods.agent.session.new, { cwd: process.env.WORKSPACE, mcpServers: [] });
  const prompt = await editor.agent.request(methods.agent.session.prompt, {
    sessionId: id,
    prompt: [{ type: "text", text: "Touch the files" }],
  });
  await editor.close();
  return { prompt, permissions: editor.shown.permissions, updates: editor.shown.updates, left: budgetAnswers };
});
