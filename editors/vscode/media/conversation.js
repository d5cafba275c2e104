// The conversation view's script: renders the events the extension posts and sends the user's messages and button
// presses back. Event text is untrusted (the agent's and its tools' output): it only ever becomes text nodes, never
// HTML; messages are rendered from a small Markdown subset into DOM nodes.
(function () {
  "use strict";
  const vscode = acquireVsCodeApi();
  const events = document.getElementById("events");
  const form = document.getElementById("send");
  const input = document.getElementById("message");
  const sendButton = document.getElementById("send-button");
  const queueButton = document.getElementById("queue-button");
  const modeHint = document.getElementById("mode-hint");
  const queuedList = document.getElementById("queued");
  /** Where the agent works (its copy of the folder): stripped from the paths it prints. */
  let roots = [];
  /** Each command's or edit's element by its action id: its output goes inside it when it comes. */
  const actions = new Map();

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function tidy(text) {
    let out = text || "";
    for (const root of roots) {
      out = out.split(root + "/").join("");
    }
    return out;
  }

  // ---- Markdown (a subset: paragraphs, headings, lists, fenced code, inline code, bold, italics, links as text)

  function inline(parent, text) {
    const re = /(`[^`]+`|\*\*[^*]+\*\*|__[^_]+__|\*[^*\s][^*]*\*|_[^_\s][^_]*_|\[[^\]]+\]\([^)]+\))/g;
    let at = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > at) parent.appendChild(document.createTextNode(text.slice(at, m.index)));
      const t = m[0];
      if (t[0] === "`") parent.appendChild(el("code", "", t.slice(1, -1)));
      else if (t.startsWith("**") || t.startsWith("__")) parent.appendChild(el("strong", "", t.slice(2, -2)));
      else if (t[0] === "[") {
        const link = /^\[([^\]]+)\]\(([^)]+)\)$/.exec(t);
        parent.appendChild(el("span", "link", link ? link[1] + " (" + link[2] + ")" : t));
      } else parent.appendChild(el("em", "", t.slice(1, -1)));
      at = m.index + t.length;
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
  }

  function markdown(text) {
    const root = el("div", "md");
    const lines = tidy(text).replace(/\r\n/g, "\n").split("\n");
    let para = null;
    let list = null;
    const endBlocks = function () {
      para = null;
      list = null;
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = /^\s*```/.exec(line);
      if (fence) {
        endBlocks();
        const code = [];
        i += 1;
        while (i < lines.length && !/^\s*```/.test(lines[i])) {
          code.push(lines[i]);
          i += 1;
        }
        root.appendChild(el("pre", "code", code.join("\n")));
        continue;
      }
      if (line.trim() === "") {
        endBlocks();
        continue;
      }
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      if (heading) {
        endBlocks();
        const h = el("div", "heading");
        inline(h, heading[2]);
        root.appendChild(h);
        continue;
      }
      const item = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(line);
      if (item) {
        para = null;
        if (!list) {
          list = el(/^\s*\d/.test(line) ? "ol" : "ul");
          root.appendChild(list);
        }
        const li = el("li");
        inline(li, item[1]);
        list.appendChild(li);
        continue;
      }
      if (list && /^\s{2,}\S/.test(line)) {
        inline(list.lastChild, " " + line.trim());
        continue;
      }
      list = null;
      if (!para) {
        para = el("p");
        root.appendChild(para);
      } else {
        para.appendChild(el("br"));
      }
      inline(para, line);
    }
    return root;
  }

  /** Markdown as one line of plain text (the header). */
  function plain(text) {
    return tidy(text || "").replace(/```[\s\S]*?```/g, " ").replace(/[`*_#>]/g, "").replace(/\s+/g, " ").trim();
  }

  // ---- Events

  function thoughtOf(raw) {
    const parts = [];
    if (raw && typeof raw.reasoning_content === "string" && raw.reasoning_content.trim()) parts.push(raw.reasoning_content.trim());
    if (raw && Array.isArray(raw.thought)) {
      const t = raw.thought.map((p) => (p && typeof p.text === "string" ? p.text : "")).join("").trim();
      if (t) parts.push(t);
    } else if (raw && typeof raw.thought === "string" && raw.thought.trim()) parts.push(raw.thought.trim());
    return parts.join("\n\n");
  }

  /** Observations by event id, with the step they answer: where a checkpoint's "Restore to here" goes. */
  const observed = new Map();
  let checkpoints = { live: false, current: null, list: [] };

  /** "Restore to here" after each step a checkpoint follows (only while the conversation runs in this session). */
  function showCheckpoints() {
    document.querySelectorAll(".checkpoint").forEach(function (n) { n.remove(); });
    for (const k of checkpoints.list) {
      const after = observed.get(k.eventId);
      if (!after || !after.parentNode) continue;
      const row = el("div", "checkpoint");
      const here = k.number === checkpoints.current;
      row.appendChild(el("span", "label", "Checkpoint " + k.number + (here ? " · the files are here" : "")));
      if (checkpoints.live && !here) {
        const button = el("button", "restore", "Restore to here");
        button.title = "The agent's copy of the files and its memory go back to after this step";
        button.addEventListener("click", function () {
          vscode.postMessage({ type: "restore", checkpoint: k.number });
        });
        row.appendChild(button);
      }
      after.parentNode.insertBefore(row, after.nextSibling);
    }
  }

  /** A command or an edit: a summary the user can open for its output once there is some. */
  function step(event, cls) {
    const details = el("details", "step " + cls + " empty");
    details.appendChild(el("summary", "", tidy(event.summary)));
    if (event.id) actions.set(event.id, details);
    return details;
  }

  function render(event) {
    const kind = event.kind || "";
    const raw = event.raw || {};
    const tool = raw.tool_name;
    if (kind === "ActionEvent") {
      const nodes = [];
      const thought = thoughtOf(raw);
      if (thought) nodes.push(el("div", "thought", thought));
      if (tool === "finish") {
        const box = el("div", "finish");
        box.appendChild(el("div", "label", "Finished"));
        const said = raw.action && typeof raw.action.message === "string" ? raw.action.message : event.detail;
        if (said) box.appendChild(markdown(said));
        nodes.push(box);
      } else if (tool === "think") {
        // Its text is the thought shown above.
      } else if (tool === "terminal") {
        nodes.push(step(event, "command"));
      } else if (tool === "file_editor" || tool === "str_replace_editor") {
        nodes.push(step(event, "edit"));
      } else {
        nodes.push(el("div", "action", tidy(event.summary)));
      }
      return nodes;
    }
    if (kind === "ObservationEvent") {
      // The finish and think tools answer with what was shown already.
      if (tool === "finish" || tool === "think") return [];
      const text = tidy(event.detail || "").replace(/\s+$/, "");
      const owner = actions.get(raw.action_id);
      if (owner && event.id) observed.set(event.id, owner);
      if (owner) {
        if (text) {
          owner.appendChild(el("pre", "", text));
          owner.classList.remove("empty");
          owner.open = tool === "terminal" && text.split("\n").length <= 12;
        }
        return [];
      }
      if (!text) return [];
      const details = el("details", "step output");
      const lines = text.split("\n");
      details.appendChild(el("summary", "", lines.length > 1 ? lines[0] + " … (" + lines.length + " lines)" : lines[0]));
      details.appendChild(el("pre", "", text));
      return [details];
    }
    if (kind === "MessageEvent" && event.source === "openhands-lsp") {
      // What the editor told the agent (what was applied, what the user declined): not the user's words.
      const box = el("details", "message note");
      const text = event.detail || "";
      box.appendChild(el("summary", "", "Note to the agent: " + text.split("\n")[0]));
      box.appendChild(el("pre", "", text));
      return [box];
    }
    if (kind === "MessageEvent") {
      const user = event.source === "user";
      const box = el("div", "message " + (user ? "user" : "agent"));
      box.appendChild(el("div", "label", user ? "You" : "Agent"));
      box.appendChild(markdown(event.detail || event.summary));
      return [box];
    }
    if (kind === "UserRejectObservation") return [el("div", "rejected", "Rejected: " + (event.detail || event.summary).replace(/^rejected:\s*/i, ""))];
    if (kind.indexOf("Error") >= 0) return [el("div", "error", tidy(event.detail || event.summary))];
    return []; // state updates and system prompts are not for reading
  }

  window.addEventListener("message", function (e) {
    const m = e.data;
    if (m.type === "events") {
      const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      for (const event of m.events) {
        for (const node of render(event)) events.appendChild(node);
      }
      if (checkpoints.list.length) showCheckpoints();
      if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    } else if (m.type === "checkpoints") {
      checkpoints = { live: m.live, current: m.current, list: m.checkpoints };
      showCheckpoints();
    } else if (m.type === "reset") {
      events.textContent = "";
      actions.clear();
      observed.clear();
      checkpoints = { live: false, current: null, list: [] };
    } else if (m.type === "conversation") {
      // What VS Code keeps across a reload to bring this view back.
      vscode.setState({ id: m.id });
      roots = (m.roots || []).filter(Boolean);
      document.getElementById("title").textContent = m.title;
      let state = m.state.replace(/_/g, " ") + " · " + m.backend;
      // What the last turn ended with, while nothing newer runs (a new turn's header is its state alone).
      const settled = ["finished", "error", "stopped", "stuck"].indexOf(m.state) >= 0;
      if (settled && m.error) state += " · " + plain(m.error);
      else if (settled && m.finalMessage) state += " · " + plain(m.finalMessage);
      if (m.budgetReached && m.state === "paused") state += " · budget reached: it " + m.budgetReached;
      document.getElementById("state").textContent = state;
      const usage = document.getElementById("usage");
      usage.textContent = m.usage ? "LLM: " + m.usage : "";
      usage.hidden = !m.usage;
      const image = document.getElementById("image");
      image.textContent = m.image ? "Image: " + m.image : "";
      image.hidden = !m.image;
      const folders = document.getElementById("folders");
      folders.textContent = m.folders ? "Folders: " + m.folders : "";
      folders.hidden = !m.folders;
      document.body.dataset.state = m.state;
      document.body.dataset.live = m.live ? "yes" : "no";
      document.body.dataset.canMessage = m.canMessage ? "yes" : "no";
      // Only what can work now is offered.
      const shown = {
        pause: m.active && m.state !== "paused",
        resume: m.live && m.state === "paused",
        stop: m.active,
        review: m.isolated,
        apply: m.isolated,
      };
      document.querySelectorAll("nav.actions button[data-action]").forEach(function (b) {
        b.hidden = !shown[b.dataset.action];
      });
      document.querySelector("nav.answer").hidden = !(m.live && m.state === "waiting_for_confirmation");
      // Nothing is offered before the view knows the conversation (its first message).
      document.querySelector("nav.actions").hidden = false;
      input.disabled = !m.canMessage;
      sendButton.disabled = !m.canMessage;
      // While it works, a message steers it (Enter) or waits for the turn's end (Alt+Enter, Queue).
      document.body.dataset.working = m.working ? "yes" : "no";
      sendButton.textContent = m.working ? "Steer" : "Send";
      sendButton.title = m.working ? "Into the running turn: the agent reads it before its next step (Enter)" : "";
      queueButton.hidden = !m.working;
      queueButton.disabled = !m.canMessage;
      modeHint.hidden = !m.working;
      showQueued(m.queued || []);
      input.placeholder = m.working
        ? "Steer the agent (Enter), or queue a message for after this turn (Alt+Enter)"
        : m.live
        ? "Message the agent (Enter to send, Shift+Enter for a new line)"
        : m.canMessage
          ? "Message the agent to go on where it left off: its sandbox starts again (Enter to send)"
          : "This conversation cannot go on: " + (m.cannotContinue || "it ran in an earlier session") + ".";
    } else if (m.type === "unqueued") {
      // Taken back: to edit or send again, unless the user has typed something else since.
      if (!input.value.trim()) input.value = m.text;
      input.focus();
    } else if (m.type === "sent") {
      // Cleared only once the agent has it: text the server refused stays, to send again.
      if (m.ok && input.value.trim() === m.text) input.value = "";
      input.disabled = document.body.dataset.canMessage !== "yes";
    }
  });

  document.querySelectorAll("button[data-action]").forEach(function (b) {
    b.addEventListener("click", function () {
      vscode.postMessage({ type: "action", name: b.dataset.action });
    });
  });

  // Listening: the extension sends what this view shows (all of it, when the view was restored after a reload).
  vscode.postMessage({ type: "ready" });

  function send(mode) {
    const text = input.value.trim();
    if (text && !input.disabled) {
      vscode.postMessage({ type: "send", text: text, mode: mode });
    }
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    send("steer");
  });
  queueButton.addEventListener("click", function () {
    send("queue");
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      send(e.altKey && document.body.dataset.working === "yes" ? "queue" : "steer");
    }
  });

  /** The messages waiting for the turn's end, each with a way to take it back. */
  function showQueued(queued) {
    const list = queuedList.querySelector("ul");
    list.textContent = "";
    queued.forEach(function (q) {
      const item = document.createElement("li");
      item.dataset.id = q.id;
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = q.text;
      const back = document.createElement("button");
      back.type = "button";
      back.className = "unqueue";
      back.textContent = "Take back";
      back.title = "Not sent: it comes back to the box";
      back.addEventListener("click", function () {
        vscode.postMessage({ type: "unqueue", id: q.id });
      });
      item.appendChild(text);
      item.appendChild(back);
      list.appendChild(item);
    });
    queuedList.hidden = queued.length === 0;
    fitForm();
  }

  /** The fixed box at the bottom grows with the queue and the hint: the last events stay above it. */
  function fitForm() {
    document.body.style.paddingBottom = form.offsetHeight + 16 + "px";
  }
})();
