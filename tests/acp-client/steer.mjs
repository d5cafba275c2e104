// While a turn runs, as panels do it: `_session/steering` (Claude's and Codex's adapters' extension) puts a message
// into the running turn; a second `session/prompt` sent before the turn ended waits for it and runs next; steering
// with no turn running answers `promptRequired`; a cancel also cancels the prompt queued behind the turn.
import { methods } from "@agentclientprotocol/sdk";
import { llmRequests, openGate, run, startAgent } from "./editor.mjs";

run(async () => {
  const editor = startAgent();
  const init = await editor.initialize();
  const { sessionId: id } = await editor.agent.request(methods.agent.session.new, { cwd: process.env.WORKSPACE, mcpServers: [] });
  const say = (text) => editor.agent.request(methods.agent.session.prompt, { sessionId: id, prompt: [{ type: "text", text }] });
  const steer = (text) => editor.agent.request("_session/steering", { sessionId: id, prompt: [{ type: "text", text }] });
  const order = [];
  const working = say("Work for a while").then((r) => (order.push("first"), r));
  await llmRequests(1);
  const steered = steer("Also mention STEERED-DOCS");
  // Sent before the first turn ended (a panel's queued message): it waits, and runs as the next turn.
  const queued = say("Then do QUEUED-NEXT").then((r) => (order.push("queued"), r));
  await openGate("first-step");
  const steerAnswer = await steered;
  const first = await working;
  const second = await queued;
  const idle = await steer("Nothing runs now");
  // A turn held at the model, a prompt queued behind it, then the panel's Stop.
  const held = say("Work on something long");
  await llmRequests(4);
  const behind = say("NEVER-SENT after the long one");
  await editor.agent.notify(methods.agent.session.cancel, { sessionId: id });
  const cancelled = await held;
  const cancelledBehind = await behind;
  await editor.close();
  return { init, steerAnswer, first, second, idle, order, cancelled, cancelledBehind };
});
