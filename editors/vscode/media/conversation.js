// The conversation view's script: renders the events the extension posts (text only, never HTML) and sends the
// user's messages and button presses back.
(function () {
  "use strict";
  const vscode = acquireVsCodeApi();
  const events = document.getElementById("events");
  const form = document.getElementById("send");
  const input = document.getElementById("message");

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(event) {
    const kind = event.kind || "";
    const tool = event.raw && event.raw.tool_name;
    if (kind === "ActionEvent") {
      if (tool === "terminal") return el("div", "action command", event.summary);
      if (tool === "file_editor" || tool === "str_replace_editor") return el("div", "action edit", event.summary);
      if (tool === "finish") {
        const box = el("div", "finish");
        box.appendChild(el("div", "label", "Finished"));
        box.appendChild(el("div", "text", event.detail || event.summary));
        return box;
      }
      return el("div", "action", event.summary);
    }
    if (kind === "ObservationEvent") {
      const details = el("details", "output");
      const lines = (event.detail || "").split("\n");
      details.appendChild(el("summary", "", lines.length > 1 ? lines[0] + " … (" + lines.length + " lines)" : lines[0]));
      details.appendChild(el("pre", "", event.detail || ""));
      details.open = lines.length <= 12;
      return details;
    }
    if (kind === "MessageEvent") {
      const who = event.source === "user" ? "You" : "Agent";
      const box = el("div", "message " + (event.source === "user" ? "user" : "agent"));
      box.appendChild(el("div", "label", who));
      box.appendChild(el("div", "text", event.detail || event.summary));
      return box;
    }
    if (kind === "UserRejectObservation") return el("div", "rejected", "Rejected: " + event.summary);
    if (kind.indexOf("Error") >= 0) return el("div", "error", event.detail || event.summary);
    return null; // state updates and system prompts are not for reading
  }

  window.addEventListener("message", function (e) {
    const m = e.data;
    if (m.type === "events") {
      const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      for (const event of m.events) {
        const node = render(event);
        if (node) events.appendChild(node);
      }
      if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    } else if (m.type === "conversation") {
      document.getElementById("title").textContent = m.title;
      let state = m.state.replace(/_/g, " ") + " · " + m.backend;
      if (m.error) state += " · " + m.error;
      else if (m.finalMessage) state += " · " + m.finalMessage;
      document.getElementById("state").textContent = state;
      document.body.dataset.state = m.state;
    }
  });

  document.querySelectorAll("button[data-action]").forEach(function (b) {
    b.addEventListener("click", function () {
      vscode.postMessage({ type: "action", name: b.dataset.action });
    });
  });

  function send() {
    const text = input.value.trim();
    if (text) {
      vscode.postMessage({ type: "send", text: text });
      input.value = "";
    }
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    send();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      send();
    }
  });
})();
