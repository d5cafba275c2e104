// Confirmations as a user answers them in the panel: the session is switched to "always ask" (a config option),
// then one command is allowed once, one rejected (the agent is told), one allowed for the session (the next is not
// asked). A second turn is cancelled while the model is thinking: the prompt answers `cancelled` at once, and a
// third turn goes on from there.
import { methods } from "@agentclientprotocol/sdk";
import { llmRequests, openGate, run, startAgent } from "./editor.mjs";

const ws = process.env.WORKSPACE;

run(async () => {
  const unexpected = [];
  const answer = (req) => {
    const title = req.toolCall.title ?? "";
    if (title.includes("echo one")) return "allow_once";
    if (title.includes("echo two")) return "reject_once";
    if (title.includes("echo three")) return "allow_always";
    unexpected.push(title);
    return "reject_once";
  };
  const editor = startAgent({ answer });
  await editor.initialize();
  const { sessionId: id } = await editor.agent.request(methods.agent.session.new, { cwd: ws, mcpServers: [] });
  const configured = await editor.agent.request(methods.agent.session.setConfigOption, {
    sessionId: id,
    configId: "confirmation",
    value: "always",
  });
  const first = await editor.agent.request(methods.agent.session.prompt, {
    sessionId: id,
    prompt: [{ type: "text", text: "Run the four commands" }],
  });
  const afterFirst = editor.shown.updates.length;

  // Turn two: cancelled while the model is held at a gate.
  const second = editor.agent.request(methods.agent.session.prompt, {
    sessionId: id,
    prompt: [{ type: "text", text: "Now wait" }],
  });
  await editor.until("the command before the cancel to complete", () =>
    editor.updatesOf(id, "tool_call_update").find((u) => u.status === "completed" && JSON.stringify(u).includes("before-cancel")),
  );
  await llmRequests(Number(process.env.HELD_REQUEST));
  const cancelledAt = Date.now();
  await editor.agent.notify(methods.agent.session.cancel, { sessionId: id });
  const secondAnswer = await second;
  const cancelMs = Date.now() - cancelledAt;
  await openGate("held");

  const third = await editor.agent.request(methods.agent.session.prompt, {
    sessionId: id,
    prompt: [{ type: "text", text: "Go on" }],
  });
  await editor.close();
  return {
    configured,
    first,
    afterFirst,
    second: secondAnswer,
    cancelMs,
    third,
    unexpected,
    updates: editor.shown.updates,
    permissions: editor.shown.permissions,
    stderr: editor.stderr(),
  };
});
