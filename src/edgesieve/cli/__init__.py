"""The ``edgesieve`` command: a thin layer over library calls."""
