// Prompts one after another in one new session (PROMPTS: a JSON list of texts), the user answering every
// question with ANSWER (an option id, default "reject_once"); what each prompt answered and everything shown.
import { methods } from "@agentclientprotocol/sdk";
import { run, startAgent } from "./editor.mjs";

run(async () => {
  const answer = () => process.env.ANSWER ?? "reject_once";
  // FS=off: an editor that reads and writes no files for agents (the apply goes to disk).
  const editor = startAgent({ answer, fsCapable: process.env.FS !== "off" });
  const initialize = await editor.initialize();
  const started = Date.now();
  const session = await editor.agent.request(methods.agent.session.new, { cwd: process.env.WORKSPACE, mcpServers: [] });
  const newMs = Date.now() - started;
  const answers = [];
  for (const text of JSON.parse(process.env.PROMPTS)) {
    const mark = editor.shown.updates.length;
    const sent = Date.now();
    try {
      const res = await editor.agent.request(methods.agent.session.prompt, {
        sessionId: session.sessionId,
        prompt: [{ type: "text", text }],
      });
      answers.push({ ...res, ms: Date.now() - sent, updates: editor.shown.updates.slice(mark).map((u) => u.update) });
    } catch (e) {
      answers.push({ error: { code: e.code, message: e.message }, updates: editor.shown.updates.slice(mark).map((u) => u.update) });
    }
  }
  await editor.close();
  return { initialize, session, newMs, answers, updates: editor.shown.updates, permissions: editor.shown.permissions, writes: editor.shown.writes, stderr: editor.stderr() };
});
