"""``python -m lsp_server``. Python puts the working directory first on ``sys.path``, and an editor
starts the server in the workspace, whose files must not stand in for the modules the server
imports (a ``yaml.py`` there would run): that entry is dropped unless it is the folder this
package lives in. (The ``prompt-tuner-lsp`` script never has it.)"""

import os
import sys

_home = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
_cwd = os.path.realpath(os.getcwd())
if sys.path and os.path.realpath(sys.path[0] or os.curdir) == _cwd and _cwd != _home:
    del sys.path[0]  # what -m added; PYTHONPATH entries stay

from lsp_server.cli import main  # noqa: E402  (after the path is safe)

raise SystemExit(main())
