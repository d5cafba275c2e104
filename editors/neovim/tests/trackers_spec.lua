-- Issues from Linear in Neovim, as a user meets them: on a branch named after ENG-42, `vim.lsp.buf.code_action()`
-- lists the source action `OpenHands: fix ENG-42 "<title>" (named by your branch …)`, and choosing it opens the
-- conversation's buffer on the issue. Then `:OpenHands fix`, answered with nothing, takes the same issue from the
-- branch. The Rust wrapper checks what reached the agent and that every request fit Linear's schema.
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
local ws, oh = T.setup_server({
  confirmation = "never",
  isolation = "worktree",
  linear = { apiUrl = assert(vim.env.OH_TEST_LINEAR_URL, "OH_TEST_LINEAR_URL") },
})
local conversation = require("openhands.conversation")
local first
-- What the server asks when an issue is done ("What next?"): this user decides later.
local asked_next = {}
local function later(_, opts, on_choice)
  table.insert(asked_next, opts.prompt)
  on_choice(nil, nil)
end
vim.ui.select = later

local function finished(id)
  return T.wait("the conversation to finish", function()
    local c = oh.conversations[id]
    return c and c.state == "finished" and c
  end, 240000)
end

T.case("the branch's issue is a source action, and choosing it opens the conversation on it", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "main.rs")))
  T.wait("the client to attach", function()
    return oh.get_client() ~= nil
  end, 20000)
  -- The keys are read from Linear in the background of the first request: asked again as a user would.
  local title = T.wait("the source action", function()
    local shown
    vim.ui.select = function(items, opts, on_choice)
      for i, item in ipairs(items) do
        local text = opts.format_item and opts.format_item(item) or vim.inspect(item)
        if text:find("OpenHands: fix ENG%-42") then
          shown = text
          return on_choice(item, i)
        end
      end
      on_choice(nil, nil)
    end
    vim.lsp.buf.code_action({ context = { only = { "source" }, diagnostics = {} } })
    vim.wait(1500, function()
      return shown ~= nil
    end)
    return shown
  end, 30000)
  vim.ui.select = later
  T.truthy(T.has(title, 'OpenHands: fix ENG-42 "Login fails with spaces" (named by your branch alice/eng-42-fix-login)'), title)
  local id = T.wait("the conversation buffer", function()
    return conversation.id_of(0)
  end)
  first = id
  local c = finished(id)
  T.truthy(c.title == "Fix ENG-42: Login fails with spaces", c.title)
  T.truthy(c.issue and c.issue.key == "ENG-42", vim.inspect(c.issue))
  T.wait("the question what next", function()
    return asked_next[1]
  end)
  T.truthy(T.has(asked_next[1], "OpenHands finished issue ENG-42 (Login fails with spaces). What next?"), asked_next[1])
end)

T.case(":OpenHands fix answered with nothing takes the issue the branch names", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "main.rs")))
  local asked
  vim.ui.input = function(opts, on_confirm)
    asked = opts.prompt
    on_confirm("")
  end
  vim.cmd("OpenHands fix")
  T.truthy(T.has(asked, "empty: the one your branch names"), asked)
  local id = T.wait("the conversation buffer", function()
    local here = conversation.id_of(0)
    local c = here and here ~= first and oh.conversations[here]
    return c and c.title == "Fix ENG-42: Login fails with spaces" and here
  end)
  finished(id)
end)

T.finish()
