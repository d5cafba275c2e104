// A panel whose user signed in through the agent's terminal method (`openhands-lsp acp login`): initialize offers
// that method; then a session starts and a prompt runs with no LLM_API_KEY in the agent's environment.
import { methods } from "@agentclientprotocol/sdk";
import { run, startAgent } from "./editor.mjs";

run(async () => {
  const editor = startAgent();
  const initialize = await editor.initialize();
  const session = await editor.agent.request(methods.agent.session.new, { cwd: process.env.WORKSPACE, mcpServers: [] });
  const prompt = await editor.agent.request(methods.agent.session.prompt, {
    sessionId: session.sessionId,
    prompt: [{ type: "text", text: "Run one command" }],
  });
  await editor.close();
  return { authMethods: initialize.authMethods, stopReason: prompt.stopReason, stderr: editor.stderr() };
});
