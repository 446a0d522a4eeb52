"""One module per ``sdnet`` sub-command, each with ``register(subparsers)`` setting ``func``.

Command modules keep heavy imports (TensorFlow, Beam) inside their run functions so that
``sdnet --help`` stays fast.
"""
