"""The ``attain`` command: the tools above the library.

``cli.main`` builds the parser from the library's own commands (run, plans, simulate, explain) and each
service's (``services/<name>/commands.py``: ``register(commands)`` and ``dispatch(args)``). Import directions:
``cli`` may import ``services`` and ``attain``; ``services`` may import ``attain``; ``attain`` imports neither
(the contracts are in pyproject.toml, ``[tool.importlinter]``, checked by ``make lint``).
"""
