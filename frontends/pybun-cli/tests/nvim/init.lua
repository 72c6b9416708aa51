-- Neovim configuration for the `pybun lsp` end-to-end test (lsp_nvim.rs).
-- Works with Neovim 0.7 (Debian bookworm: start_client + buf_attach_client)
-- and later (vim.lsp.start, 0.8+).
--
-- Environment:
--   PYBUN_LSP_CMD    JSON array: the command that starts the server
--   PYBUN_NVIM_OUT   where to write the diagnostics (JSON)
--   PYBUN_NVIM_WANT  a diagnostic code to wait for (e.g. PB0301)
local cmd = vim.fn.json_decode(os.getenv("PYBUN_LSP_CMD"))
local out = os.getenv("PYBUN_NVIM_OUT")
local want = os.getenv("PYBUN_NVIM_WANT")

local client_id = nil
vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
  pattern = "pyproject.toml",
  callback = function(args)
    local config = { name = "pybun", cmd = cmd, root_dir = vim.fn.fnamemodify(args.file, ":p:h") }
    if vim.lsp.start then
      -- 0.8+
      vim.lsp.start(config, { bufnr = args.buf })
      return
    end
    if client_id == nil then
      client_id = vim.lsp.start_client(config)
    end
    vim.lsp.buf_attach_client(args.buf, client_id)
  end,
})

local function has_wanted()
  for _, d in ipairs(vim.diagnostic.get(0)) do
    if d.code == want then
      return true
    end
  end
  return false
end

vim.api.nvim_create_autocmd("VimEnter", {
  callback = function()
    local ok = vim.wait(20000, has_wanted, 50)
    local found = {}
    for _, d in ipairs(vim.diagnostic.get(0)) do
      table.insert(found, {
        lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
        severity = d.severity, code = d.code, source = d.source, message = d.message,
      })
    end
    local file = io.open(out, "w")
    file:write(vim.fn.json_encode({ waited = ok, nvim = tostring(vim.version().major) .. "." .. tostring(vim.version().minor), diagnostics = found }))
    file:close()
    vim.cmd("qa!")
  end,
})
