"""The ``whisperd`` command: one module per sub-command, wired together in :mod:`whisperd.cli.main`."""
