// MCP servers from session/new reach the agent: a stdio server (run where the process backend runs the agent) whose
// tool the model calls; its answer comes back into the conversation.
import { methods } from "@agentclientprotocol/sdk";
import { run, startAgent } from "./editor.mjs";

run(async () => {
  const editor = startAgent();
  await editor.initialize();
  const { sessionId: id } = await editor.agent.request(methods.agent.session.new, {
    cwd: process.env.WORKSPACE,
    mcpServers: [
      {
        name: "shout",
        command: process.env.MCP_PYTHON,
        args: [process.env.MCP_SCRIPT],
        env: [{ name: "SHOUT_TOKEN", value: process.env.MCP_TOKEN }],
      },
    ],
  });
  const prompt = await editor.agent.request(methods.agent.session.prompt, {
    sessionId: id,
    prompt: [{ type: "text", text: "Shout hello" }],
  });
  let missing = null;
  try {
    await editor.agent.request(methods.agent.session.new, {
      cwd: process.env.WORKSPACE,
      mcpServers: [{ name: "gone", command: "no-such-mcp-server", args: [], env: [] }],
    });
  } catch (e) {
    missing = { code: e.code, message: e.message };
  }
  await editor.close();
  return { prompt, missing, updates: editor.shown.updates, stderr: editor.stderr() };
});
