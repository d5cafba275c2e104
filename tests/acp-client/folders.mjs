// A session across two folders, as Zed opens one on a multi-root project: `cwd` is the first folder,
// `additionalDirectories` the other. The agent changes both; at the end of the turn the user sees every change as a
// diff of their own files (each in its own folder) and applies them; `session/list` reports the other folder. A
// folder that is not there is refused when the session is made.
import * as path from "node:path";
import { methods } from "@agentclientprotocol/sdk";
import { run, startAgent } from "./editor.mjs";

const app = process.env.APP;
const api = process.env.API;

run(async () => {
  const editor = startAgent({ answer: (req) => (req.options.some((o) => o.optionId === "apply") ? "apply" : "reject_once") });
  const init = await editor.initialize();
  let missing;
  try {
    await editor.agent.request(methods.agent.session.new, {
      cwd: app,
      additionalDirectories: [path.join(api, "no-such-folder")],
      mcpServers: [],
    });
  } catch (e) {
    missing = { code: e.code, message: e.message };
  }
  const session = await editor.agent.request(methods.agent.session.new, {
    cwd: app,
    additionalDirectories: [api],
    mcpServers: [],
  });
  const id = session.sessionId;
  const prompt = await editor.agent.request(methods.agent.session.prompt, {
    sessionId: id,
    prompt: [{ type: "text", text: "Bump the version in both projects" }],
  });
  const listed = await editor.agent.request(methods.agent.session.list, { cwd: app });
  await editor.close();
  return {
    init,
    missing,
    prompt,
    listed,
    updates: editor.shown.updates,
    permissions: editor.shown.permissions,
    writes: editor.shown.writes,
  };
});
