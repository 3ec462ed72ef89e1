"""nbflow's version, in a module of its own: the CLI's ``--version`` and the generated
GitHub Actions files (which pin it) read it here, and ``nbflow.__version__`` re-exports
it, so no module inside the package imports the package's own ``__init__``.
"""

__version__ = "0.1.0"
