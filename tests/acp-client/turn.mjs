// One session as an agent panel drives it: initialize, a new session in the folder, a prompt with a file as
// context; every kind of update streams; at the end of the turn the agent's changes are shown and the user allows
// them: a.txt is merged with the user's unsaved edit and written through fs/write_text_file, b.txt overlaps the
// user's unsaved edit and is refused with the user's text kept. A second prompt goes on in the same conversation.
import * as path from "node:path";
import { methods } from "@agentclientprotocol/sdk";
import { run, startAgent } from "./editor.mjs";

const ws = process.env.WORKSPACE;
const a = path.join(ws, "a.txt");
const b = path.join(ws, "b.txt");

run(async () => {
  const buffers = {
    [a]: process.env.A_BUFFER,
    [b]: process.env.B_BUFFER,
  };
  const editor = startAgent({ buffers, answer: (req) => (req.options.some((o) => o.optionId === "apply") ? "apply" : "reject_once") });
  const initialize = await editor.initialize();
  const started = Date.now();
  const session = await editor.agent.request(methods.agent.session.new, { cwd: ws, mcpServers: [] });
  const newMs = Date.now() - started;
  const id = session.sessionId;
  const prompt = await editor.agent.request(methods.agent.session.prompt, {
    sessionId: id,
    prompt: [
      { type: "text", text: "Improve a.txt and b.txt" },
      { type: "resource", resource: { uri: `file://${a}`, mimeType: "text/plain", text: "line 2\n" } },
      { type: "resource_link", name: "b.txt", uri: `file://${b}` },
      { type: "image", mimeType: "image/png", data: process.env.IMAGE_PNG },
    ],
  });
  const firstTurn = editor.shown.updates.length;
  const second = await editor.agent.request(methods.agent.session.prompt, {
    sessionId: id,
    prompt: [{ type: "text", text: "Thanks" }],
  });
  const listed = await editor.agent.request(methods.agent.session.list, { cwd: ws });
  await editor.close();
  return {
    initialize,
    session,
    newMs,
    prompt,
    second,
    listed,
    firstTurn,
    updates: editor.shown.updates,
    permissions: editor.shown.permissions,
    reads: editor.shown.reads,
    writes: editor.shown.writes,
    stderr: editor.stderr(),
  };
});
