"""pytest-lsp drives the real openhands-lsp binary with the recorded capabilities of real clients."""

import os
import pathlib
import tempfile

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVER = os.environ.get("OPENHANDS_LSP_BIN", str(ROOT / "target" / "debug" / "openhands-lsp"))
STATE_HOME = tempfile.mkdtemp(prefix="openhands-lsp-conformance-")

# Recorded profiles shipped with pytest-lsp: what real Neovim 0.11 and VS Code announce.
CLIENTS = ["neovim@v0.11.0", "visual_studio_code"]


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"XDG_STATE_HOME": STATE_HOME, "OPENHANDS_LSP_TEST_HOOKS": "1", "OPENHANDS_LSP_LOG": "debug"})
    return env


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[SERVER], server_env=server_env()), params=CLIENTS)
async def client(request, lsp_client: LanguageClient):
    lsp_client.statuses = []

    @lsp_client.feature("openhands/status")
    def on_status(params):
        lsp_client.statuses.append(params)

    params = types.InitializeParams(
        capabilities=client_capabilities(request.param),
        initialization_options={
            "backend": "process",
            "process": {"command": os.environ.get("OPENHANDS_AGENT_SERVER", "/bin/sh")},
        },
        workspace_folders=[types.WorkspaceFolder(uri=ROOT.as_uri(), name="openhands-lsp")],
    )
    lsp_client.initialize_result = await lsp_client.initialize_session(params)
    lsp_client.client_name = request.param
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def server_command():
    return SERVER
