"""``python -m flowyml``: the same command line as ``flowyml``."""

from __future__ import annotations

from flowyml.cli.main import main

if __name__ == "__main__":
    main(prog_name="flowyml")
