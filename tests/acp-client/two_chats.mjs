// Two agent chats of one editor, each with its own `openhands-lsp acp` (as a Neovim chat plugin starts one per
// chat): the first works on a task (the model held at a gate); the second loads the first's session and is told
// exactly what is true (another process runs it, and from where it can be driven); its prompt is refused in words.
import { methods } from "@agentclientprotocol/sdk";
import { llmRequests, openGate, run, startAgent } from "./editor.mjs";

const ws = process.env.WORKSPACE;

run(async () => {
  const first = startAgent();
  await first.initialize();
  const { sessionId: id } = await first.agent.request(methods.agent.session.new, { cwd: ws, mcpServers: [] });
  const working = first.agent.request(methods.agent.session.prompt, { sessionId: id, prompt: [{ type: "text", text: "Work" }] });
  await llmRequests(1);

  const second = startAgent();
  await second.initialize();
  await second.agent.request(methods.agent.session.load, { sessionId: id, cwd: ws, mcpServers: [] });
  const told = second.shown.updates.map((u) => u.update);
  let promptError = null;
  try {
    await second.agent.request(methods.agent.session.prompt, { sessionId: id, prompt: [{ type: "text", text: "Me too" }] });
  } catch (e) {
    promptError = { code: e.code, message: e.message };
  }
  await second.close();
  await openGate("held");
  const done = await working;
  const firstPid = first.proc.pid;
  await first.close();
  return { id, told, promptError, done, firstPid };
});
