-- The agent's confirmation request comes through vim.ui.select with clear labels; the answer reaches the agent.
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
local ws, oh = T.setup_server({ isolation = "none", confirmation = "always" })

local asked = {}
vim.ui.select = function(items, opts, on_choice)
  local labels = vim.tbl_map(opts.format_item or tostring, items)
  table.insert(asked, { prompt = opts.prompt, labels = labels, kind = opts.kind })
  if T.has(opts.prompt, "rm -rf build-dir") then
    on_choice(items[3], 3) -- Reject
  else
    on_choice(items[1], 1) -- Allow
  end
end

T.case("a confirmation is asked through vim.ui.select and allowing runs the action", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "a.txt")))
  vim.cmd("OpenHands task Run one command")
  local id = T.wait("the conversation buffer", function()
    return require("openhands.conversation").id_of(0)
  end)
  -- The first question is the warm-up command's (the agent-server's first terminal command can lose its output).
  local q = T.wait("the question about the command", function()
    for _, a in ipairs(asked) do
      if T.has(a.prompt, "echo confirmed-run") then
        return a
      end
    end
  end, 240000)
  T.eq("openhands_confirmation", q.kind, "kind")
  T.truthy(T.has(q.prompt, "wants to"), q.prompt)
  T.eq({ "Allow: run it", "Allow for this conversation: stop asking", "Reject: the agent is told you said no" }, q.labels, "labels")
  local buf = require("openhands.conversation").buf_of(id)
  local ok, err = pcall(T.wait, "the allowed command's output", function()
    return T.has(T.buf_text(buf), "  │ confirmed-run")
  end, 240000)
  if not ok then
    error(tostring(err) .. "\nconversation buffer:\n" .. T.buf_text(buf), 0)
  end
end)

T.case("a rejected action shows once, with the reason, in plain words", function()
  local id = require("openhands.conversation").id_of(0)
  local buf = require("openhands.conversation").buf_of(id)
  local line = T.wait("the rejection in the buffer", function()
    for _, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
      if T.has(l, "✖ rejected") then
        return l
      end
    end
  end, 120000)
  T.eq("✖ rejected: The user chose Reject in the editor.", line, "the line")
end)

T.finish()
