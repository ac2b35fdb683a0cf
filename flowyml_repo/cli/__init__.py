"""The ``flowyml`` command line: one click command per module (see ``main.py``)."""
