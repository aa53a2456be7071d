"""Dump actor state: live through the control socket, or offline from the snapshot store.

    python ops/inspect.py --socket PATH [GUILD_ID] [--json]
    python ops/inspect.py --store PATH_OR_URL [GUILD_ID] [--json]

The same as ``python -m runtime inspect`` (``runtime/ops/inspect_cli.py`` has it all; ``--help``
lists the options). Run as a script, this file's folder comes first on ``sys.path``, where its
name would shadow the standard library's ``inspect`` for every later import; so it imports
nothing and hands over to the interpreter again with ``-P`` (Python 3.11+: no script folder on
the path), keeping the arguments, the standard streams and the exit status.
"""

import os
import sys

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-P", "-m", "runtime", "inspect",
                              "--prog", "ops/inspect.py", *sys.argv[1:]])
