"""flowyml's terminal UI (``flowyml ui``): runs, DAGs, artifacts, lineage and diffs, live.

A Textual app that reads the history through the public ``flowyml`` API only;
``flowyml`` never imports this package. Start it with
:func:`flowyml_tui.app.run_app`.
"""
