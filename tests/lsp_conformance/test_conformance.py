"""Conformance of openhands-lsp with real client profiles (neovim@v0.11.0, visual_studio_code).

Spec violations the pytest-lsp checks find are errors (see pytest.ini and the -W flag in scripts/test).
"""

import asyncio
import os
import subprocess

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from conftest import SERVER, server_env


async def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_initialize(client: LanguageClient):
    result = client.initialize_result
    assert result.server_info.name == "openhands-lsp"
    commands = list(result.capabilities.execute_command_provider.commands)
    assert commands[0] == "openhands.status" and "openhands.startTask" in commands
    assert result.capabilities.text_document_sync.change == types.TextDocumentSyncKind.Full
    assert result.capabilities.workspace.workspace_folders.supported
    # utf-8 when the profile offers it (Neovim 0.11 does), else the spec's default utf-16.
    offered = (client.capabilities.general and client.capabilities.general.position_encodings) or []
    expected = types.PositionEncodingKind.Utf8 if types.PositionEncodingKind.Utf8 in offered else types.PositionEncodingKind.Utf16
    assert result.capabilities.position_encoding == expected


async def test_status_notification(client: LanguageClient):
    await wait_until(lambda: client.statuses, what="openhands/status")
    assert client.statuses[0].kind == "normal"
    assert client.statuses[0].busy is False


async def test_status_command(client: LanguageClient):
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="openhands.status", arguments=[{}])
    )
    assert status["ok"] is True
    assert status["backend"] == "process"
    assert any(c["name"] == "state directory" and c["status"] == "ok" for c in status["checks"])
    assert status["workspaceFolders"][0]["name"] == "openhands-lsp"


async def test_settings_pulled_on_change(client: LanguageClient):
    """A bad value is shown once, naming the key; fixing it clears the problem."""
    client.set_configuration({"backend": "dockr"}, section="openhands")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await wait_until(lambda: client.messages, what="window/showMessage")
    assert "openhands.backend" in client.messages[0].message
    assert "dockr" in client.messages[0].message

    # The whole section as an editor would send it: the fixed key and the rest as before.
    client.set_configuration(
        {"backend": "process", "process": {"command": os.environ.get("OPENHANDS_AGENT_SERVER", "/bin/sh")}},
        section="openhands",
    )
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))

    async def problems():
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="openhands.status", arguments=[{}])
        )
        return status["settingsProblems"]

    deadline = asyncio.get_running_loop().time() + 10
    while await problems():
        assert asyncio.get_running_loop().time() < deadline, "settings problem never cleared"
        await asyncio.sleep(0.02)
    assert len(client.messages) == 1


async def test_progress_sequence(client: LanguageClient):
    result = await client.protocol.send_request_async("openhands/test/progress", {"title": "Checking", "reports": 2})
    # pygls returns custom requests' results as named tuples.
    token = result.token
    assert result.visible is True
    await wait_until(
        lambda: any(isinstance(v, types.WorkDoneProgressEnd) for v in client.progress_reports.get(token, [])),
        what="progress end",
    )
    reports = client.progress_reports[token]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert reports[0].title == "Checking"
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    assert all(isinstance(r, types.WorkDoneProgressReport) for r in reports[1:-1])


async def test_progress_cancel(client: LanguageClient):
    pending = asyncio.ensure_future(
        client.protocol.send_request_async("openhands/test/progress", {"title": "Cancel me", "waitForCancel": True})
    )
    await wait_until(lambda: client.progress_reports, what="progress begin")
    token = next(iter(client.progress_reports))
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await asyncio.wait_for(pending, 10)
    assert result.cancelled is True
    await wait_until(
        lambda: isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd), what="progress end"
    )


async def test_unknown_command(client: LanguageClient):
    with pytest.raises(JsonRpcException) as err:
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="openhands.nope", arguments=[]))
    assert err.value.code == -32601
    assert "openhands.nope" in err.value.message


async def test_bad_params(client: LanguageClient):
    with pytest.raises(JsonRpcException) as err:
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="openhands.status", arguments=[{"bogus": 1}])
        )
    assert err.value.code == -32602
    assert "bogus" in err.value.message


async def test_documents_and_code_actions(client: LanguageClient):
    uri = "file:///tmp/openhands-conformance/example.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text="x = 1\n")
        )
    )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="x = 2\n")],
        )
    )
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(0, 0), end=types.Position(0, 5)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert list(actions) == []
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="openhands.status", arguments=[{}])
    )
    assert status["openDocuments"] == 1


def test_shutdown_then_exit_code_zero():
    """Shutdown then exit: a clean 0, observed on a raw process so the exit code is visible."""
    import json

    def frame(obj):
        body = json.dumps(obj).encode()
        return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)

    proc = subprocess.Popen([SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=server_env())
    proc.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}))
    proc.stdin.flush()
    header = proc.stdout.readline()
    assert header.startswith(b"Content-Length: ")
    proc.stdout.readline()
    proc.stdout.read(int(header.split(b":")[1]))
    proc.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    proc.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
    proc.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
    proc.stdin.flush()
    # stdin stays open on purpose.
    assert proc.wait(timeout=5) == 0
