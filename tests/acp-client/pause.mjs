// /pause while the agent works (the turn it was on answers `cancelled`), then /resume: the agent goes on by itself
// and its work streams in without a prompt waiting.
import { methods } from "@agentclientprotocol/sdk";
import { llmRequests, run, startAgent } from "./editor.mjs";

run(async () => {
  const editor = startAgent();
  await editor.initialize();
  const { sessionId: id } = await editor.agent.request(methods.agent.session.new, { cwd: process.env.WORKSPACE, mcpServers: [] });
  const say = (text) => editor.agent.request(methods.agent.session.prompt, { sessionId: id, prompt: [{ type: "text", text }] });
  const working = say("Work for a while");
  await llmRequests(2);
  const paused = await say("/pause");
  const turn = await working;
  const resumed = await say("/resume");
  await editor.until("the agent's message after the resume", () =>
    editor.updatesOf(id, "agent_message_chunk").find((u) => u.content.text === "Done after the pause."));
  const after = await say("/review");
  await editor.close();
  return { paused, turn, resumed, after, updates: editor.shown.updates };
});
