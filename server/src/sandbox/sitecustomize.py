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
"""

import gc
import os
import sys


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


_main()
