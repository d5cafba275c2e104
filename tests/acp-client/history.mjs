// History as an agent panel shows it: a session is made and used; the conversations of the folder are listed,
// those started in another editor over LSP among them, and one of those is loaded (its history replayed). Then the
// agent is restarted: the list is the same, a session is resumed (no replay) and loaded (replayed), a prompt to it
// goes on where it was (its agent started again with what it did before), a prompt to one that cannot go on (made
// before the agent's memory was kept) says why, and closing works.
import { methods } from "@agentclientprotocol/sdk";
import { run, startAgent } from "./editor.mjs";

const ws = process.env.WORKSPACE;
const lspConversation = process.env.LSP_CONVERSATION;

run(async () => {
  const first = startAgent();
  await first.initialize();
  const { sessionId: id } = await first.agent.request(methods.agent.session.new, { cwd: ws, mcpServers: [] });
  const prompt = await first.agent.request(methods.agent.session.prompt, {
    sessionId: id,
    prompt: [{ type: "text", text: "Say hello" }],
  });
  const listedBefore = await first.agent.request(methods.agent.session.list, { cwd: ws });
  const elsewhere = await first.agent.request(methods.agent.session.list, { cwd: "/nonexistent-folder" });
  const before = first.shown.updates.length;
  await first.agent.request(methods.agent.session.load, { sessionId: lspConversation, cwd: ws, mcpServers: [] });
  const lspReplay = first.shown.updates.slice(before);
  await first.close();

  const second = startAgent();
  await second.initialize();
  const listedAfter = await second.agent.request(methods.agent.session.list, { cwd: ws });
  const resumed = await second.agent.request(methods.agent.session.resume, { sessionId: id, cwd: ws, mcpServers: [] });
  const afterResume = second.shown.updates.slice();
  await second.agent.request(methods.agent.session.close, { sessionId: id });
  const mark = second.shown.updates.length;
  const loaded = await second.agent.request(methods.agent.session.load, { sessionId: id, cwd: ws, mcpServers: [] });
  const replay = second.shown.updates.slice(mark);
  const beforeMore = second.shown.updates.length;
  const more = await second.agent.request(methods.agent.session.prompt, {
    sessionId: id,
    prompt: [{ type: "text", text: "More" }],
  });
  const wentOn = second.shown.updates.slice(beforeMore);
  const closed = await second.agent.request(methods.agent.session.close, { sessionId: id });
  // A conversation from before the agent's memory was kept: loaded, it says why it cannot go on; a prompt too.
  const beforeOld = second.shown.updates.length;
  await second.agent.request(methods.agent.session.load, { sessionId: lspConversation, cwd: ws, mcpServers: [] });
  const oldNote = second.shown.updates.slice(beforeOld);
  const beforeOldPrompt = second.shown.updates.length;
  const oldPrompt = await second.agent.request(methods.agent.session.prompt, {
    sessionId: lspConversation,
    prompt: [{ type: "text", text: "More" }],
  });
  const oldAnswer = second.shown.updates.slice(beforeOldPrompt);
  await second.close();
  return {
    id, prompt, listedBefore, elsewhere, lspReplay, listedAfter, resumed, afterResume, loaded, replay, more, wentOn,
    closed, oldNote, oldPrompt, oldAnswer,
  };
});
