"""The files ``flowyml init`` lays down in a new project (this file is not copied).

The folder is packaged as ``flowyml.template`` so ``importlib.resources`` finds it
in both regular and editable installs.
"""
