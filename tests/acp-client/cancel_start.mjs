// A cancel while the sandbox starts (the first prompt of a session): the prompt answers `cancelled`, nothing of the
// cancelled task runs when the sandbox is up, and the next prompt, sent at once, goes on with the task and itself.
import { methods } from "@agentclientprotocol/sdk";
import { run, startAgent } from "./editor.mjs";

const ws = process.env.WORKSPACE;

run(async () => {
  const editor = startAgent();
  await editor.initialize();
  const { sessionId: id } = await editor.agent.request(methods.agent.session.new, { cwd: ws, mcpServers: [] });
  const first = editor.agent.request(methods.agent.session.prompt, { sessionId: id, prompt: [{ type: "text", text: "Task one" }] });
  await editor.until("the start's tool call", () => editor.updatesOf(id, "tool_call").find((c) => c.title.startsWith("Starting the agent")));
  await editor.agent.notify(methods.agent.session.cancel, { sessionId: id });
  const firstAnswer = await first;
  const llmCallsAtCancel = Number(await (await fetch(`${process.env.LLM_URL}/test/requests`)).text());
  let second;
  try {
    second = await editor.agent.request(methods.agent.session.prompt, { sessionId: id, prompt: [{ type: "text", text: "Go on after all" }] });
  } catch (e) {
    second = { error: { code: e.code, message: e.message } };
  }
  await editor.close();
  return { first: firstAnswer, llmCallsAtCancel, second, updates: editor.shown.updates, permissions: editor.shown.permissions };
});
