"""openhands-lsp's start-up hook for the agent-servers it runs, in a container or as a process (found as
`sitecustomize` on PYTHONPATH).

The agent-server builds a large heap while it boots and takes its first steps (litellm, the OpenAI client, pydantic
schemas, FastAPI's routes). CPython's collector (3.12) makes a full pass each time the long-lived heap has grown by a
quarter since the last one, and each pass walks the whole heap: four passes of 0.1 to 0.5 s, about 1.2 s of a cold
start spent re-checking objects that live as long as the process. Asking for 100 times as many middle-generation
collections between full passes leaves them out of the boot; young collections run as before, so short-lived cycles
are freed as before. Python 3.14's incremental collector ignores the setting.

Then it steps aside: its directory leaves PYTHONPATH (the agent's commands, and any Python they start, see the
image's environment) and the image's own sitecustomize, if it has one, runs as it would have.

It also makes the agent's terminal wait for its shell (see _ShellReady): the terminal tool types its set-up and then
the agent's first command into a shell that may still be reading the user's start-up files (~/.bashrc with pyenv,
conda, nvm: a second or more), and takes the first prompt that shows up, one printed for its own set-up line, as the
command's end. The command was reported done, exit code 0 and no output, before it ran.

And it makes each step that may have changed files wait for openhands-lsp's checkpoint of it (see _StepRecorded).
"""

import gc
import os
import sys
import time
import uuid


def _main():
    here = os.path.dirname(os.path.abspath(__file__))
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1000)

    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != here]
    if rest:
        os.environ["PYTHONPATH"] = os.pathsep.join(rest)
    else:
        os.environ.pop("PYTHONPATH", None)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]

    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


# How long a command waits for the terminal's shell to finish its start-up; then it is not run, and the agent is told
# why. Long enough for a slow start-up (a pyenv rehash waiting on a stale lock takes 60 s) to still end well.
_SHELL_START_LIMIT = float(os.environ.get("OPENHANDS_LSP_SHELL_START_TIMEOUT") or 90)
# A start-up slower than this is named in the first command's output.
_SHELL_START_NOTED = 3.0


class _ShellReady:
    """Makes every command of the agent's terminal wait until its shell has read its start-up files.

    When the terminal tool opens a shell (a tmux pane, pooled or not), a line is typed after the tool's own set-up:
    a printf of a marker that the shell can only print once everything typed before it has run, the user's start-up
    files first. A command waits for that marker, and the prompt after it, before it is sent; then the screen is
    cleared, as the tool expects. A start-up slower than a few seconds is named in that command's output; one that
    does not end in time leaves the command unrun, and the agent is told so, with what the screen shows.
    """

    MODULES = {
        "openhands.tools.terminal.terminal.tmux_terminal": "patch_tmux_terminal",
        "openhands.tools.terminal.terminal.tmux_pane_pool": "patch_pane_pool",
        "openhands.tools.terminal.terminal.terminal_session": "patch_session",
    }

    @staticmethod
    def begin(terminal):
        token = uuid.uuid4().hex[:16]
        terminal._openhands_lsp_ready = {"token": token, "started": time.monotonic(), "ready": False}
        terminal.pane.send_keys(f"printf '\\n__OPENHANDS_SHELL_READY_%s__\\n' {token}", enter=True)

    @staticmethod
    def wait(terminal):
        """None when the shell is ready (after clearing its screen), else why the command cannot run."""
        from openhands.tools.terminal.constants import CMD_OUTPUT_PS1_END

        probe = terminal._openhands_lsp_ready
        marker = f"__OPENHANDS_SHELL_READY_{probe['token']}__"
        prompt_end = CMD_OUTPUT_PS1_END.strip()
        deadline = time.monotonic() + _SHELL_START_LIMIT
        screen = ""
        while True:
            screen = terminal.read_screen()
            at = screen.find(marker)
            if at >= 0 and screen.rstrip().endswith(prompt_end) and screen.rfind(prompt_end) > at:
                break
            if time.monotonic() >= deadline:
                waited = time.monotonic() - probe["started"]
                tail = "\n".join(line for line in screen.splitlines() if line.strip())[-1500:]
                return (
                    f"The command was not run: the terminal's shell has not finished starting after {waited:.0f} s. "
                    "Its start-up files (~/.bashrc, ~/.bash_profile, ~/.profile and what they run) are still "
                    "running. The screen shows:\n" + (tail or "(nothing)") + "\nSend the command again to wait "
                    "longer; if it never ends, the start-up files need fixing."
                )
            time.sleep(0.05)
        probe["ready"] = True
        probe["took"] = time.monotonic() - probe["started"]
        terminal.pane.send_keys("clear", enter=True)
        cleared = time.monotonic() + 5
        while time.monotonic() < cleared:
            screen = terminal.read_screen()
            if marker not in screen and screen.rstrip().endswith(prompt_end):
                break
            time.sleep(0.02)
        terminal.pane.cmd("clear-history")
        return None

    @staticmethod
    def note(terminal):
        probe = getattr(terminal, "_openhands_lsp_ready", None)
        if not probe or probe.pop("noted", False) or probe.get("took", 0) < _SHELL_START_NOTED:
            return ""
        return (
            f"[The terminal's shell took {probe['took']:.0f} s to start (its start-up files: ~/.bashrc and what it "
            "runs) before this command ran.]\n"
        )

    @classmethod
    def patch_tmux_terminal(cls, module):
        original = module.TmuxTerminal.initialize

        def initialize(self):
            fresh = not getattr(self, "_initialized", False)
            original(self)
            if fresh:
                cls.begin(self)

        module.TmuxTerminal.initialize = initialize

    @classmethod
    def patch_pane_pool(cls, module):
        original = module.TmuxPanePool._create_pane

        def _create_pane(self):
            terminal = original(self)
            cls.begin(terminal)
            return terminal

        module.TmuxPanePool._create_pane = _create_pane

    @classmethod
    def patch_session(cls, module):
        original = module.TerminalSession.execute

        def execute(self, action):
            terminal = self.terminal
            probe = getattr(terminal, "_openhands_lsp_ready", None)
            note = ""
            if probe is not None and not probe["ready"]:
                why = cls.wait(terminal)
                if why is not None:
                    return module.TerminalObservation.from_text(text=why, command=action.command, is_error=True)
                note = cls.note(terminal)
                probe["noted"] = True
            observation = original(self, action)
            if not note:
                return observation
            from openhands.sdk.llm import TextContent

            return observation.model_copy(update={"content": [TextContent(text=note + observation.text)]})

        module.TerminalSession.execute = execute

    @classmethod
    def install(cls):
        _patch_on_import(cls, "the terminal's start-up wait")


# Where openhands-lsp says it has recorded a step (see _StepRecorded); unset where it keeps no checkpoints.
_STEP_ACKS = os.environ.get("OPENHANDS_LSP_STEP_ACKS")
# The tools whose steps change no files, so get no checkpoint and are not waited for.
_QUIET_TOOLS = frozenset(filter(None, os.environ.get("OPENHANDS_LSP_QUIET_TOOLS", "").split(",")))
# How long a step waits for its checkpoint; then the agent goes on (a stalled or gone openhands-lsp never stops it).
_STEP_ACK_LIMIT = float(os.environ.get("OPENHANDS_LSP_STEP_ACK_TIMEOUT") or 20)


class _StepRecorded:
    """Holds the agent's next step until openhands-lsp has recorded the files as this step left them.

    openhands-lsp takes a checkpoint of the conversation's copy when a step's observation reaches it. The agent does
    not wait for that: its next step may already be writing files while the snapshot is read, and under load the
    checkpoint then holds the next step's files too (and the next step gets none). So after the tools of a step ran
    and their observations went out, the agent waits until openhands-lsp writes `<acks>/<observation id>`, for as long
    as it follows the conversation (`<acks>/following`), and at most _STEP_ACK_LIMIT seconds.
    """

    MODULES = {"openhands.sdk.agent.agent": "patch_agent"}

    @staticmethod
    def collecting(on_event, ids):
        def on(event):
            on_event(event)
            if type(event).__name__ == "ObservationEvent" and getattr(event, "tool_name", None) not in _QUIET_TOOLS:
                ids.append(event.id)

        return on

    @staticmethod
    def pending(ids):
        """The ids not acknowledged yet (each ack is taken away once seen); none when nobody follows."""
        if not os.path.exists(os.path.join(_STEP_ACKS, "following")):
            return []
        left = []
        for event_id in ids:
            ack = os.path.join(_STEP_ACKS, event_id)
            if os.path.exists(ack):
                try:
                    os.unlink(ack)
                except OSError:
                    pass
            else:
                left.append(event_id)
        return left

    @classmethod
    def patch_agent(cls, module):
        agent = module.Agent
        run_sync, run_async = agent._execute_actions, agent._aexecute_actions

        def _execute_actions(self, conversation, action_events, on_event):
            ids = []
            run_sync(self, conversation, action_events, cls.collecting(on_event, ids))
            deadline = time.monotonic() + _STEP_ACK_LIMIT
            while ids and time.monotonic() < deadline:
                ids = cls.pending(ids)
                if ids:
                    time.sleep(0.005)

        async def _aexecute_actions(self, conversation, action_events, on_event):
            import asyncio

            ids = []
            await run_async(self, conversation, action_events, cls.collecting(on_event, ids))
            deadline = time.monotonic() + _STEP_ACK_LIMIT
            # On the event loop: the observations go out to openhands-lsp while this waits.
            while ids and time.monotonic() < deadline:
                ids = cls.pending(ids)
                if ids:
                    await asyncio.sleep(0.005)

        agent._execute_actions = _execute_actions
        agent._aexecute_actions = _aexecute_actions

    @classmethod
    def install(cls):
        if _STEP_ACKS:
            _patch_on_import(cls, "waiting for each step's checkpoint")


def _patch_on_import(cls, what):
    """Runs `cls`'s patch for each of its MODULES right after that module is imported."""
    import importlib.abc

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            patch = cls.MODULES.get(name)
            if patch is None:
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    run = spec.loader.exec_module

                    def exec_module(module, run=run, patch=patch):
                        run(module)
                        try:
                            getattr(cls, patch)(module)
                        except Exception as e:  # another version of the agent-server: it works as it came
                            print(f"openhands-lsp: {what} is off ({e})", file=sys.stderr)

                    spec.loader.exec_module = exec_module
                    return spec
            return None

    sys.meta_path.insert(0, Finder())


_main()
_ShellReady.install()
_StepRecorded.install()
