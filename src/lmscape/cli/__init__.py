"""The ``lmscape`` command line: one module per command group."""
