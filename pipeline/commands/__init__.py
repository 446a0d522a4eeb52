"""One module per ``sdnet`` sub-command, each with ``register(subparsers)`` setting ``func`` (its ``run``).

Imports, the one exception to "imports at the module top" (checked by ``tests/test_layers.py``): the CLI
must start quickly, for ``sdnet --help`` and argument errors, without TensorFlow, Keras or Beam, and
``pipeline.cli`` imports every command module to build its parser. So a command module imports at its
top the standard library and light modules only: ``pipeline.errors``, ``pipeline.config``,
``pipeline.experiment``, ``pipeline.camera``, ``pipeline.datasets`` (the dataset registry, for
``--dataset``), ``pipeline.runfiles``, ``pipeline.fsutil``,
``pipeline.synth.profiles``, ``pipeline.commands.camera_args`` and ``eval.bench`` (a registry that
imports a benchmark only to run it). Its ``run(args)`` imports, as its first statements, every stage
module the command calls (``pipeline.build_synth`` among them: it loads Beam); a helper that needs one
is defined inside ``run()``, or imports it itself marked ``# deferred: <reason>`` (the argument parsers of
``sdnet tune`` and ``sdnet reproduce``, which tests call alone). A stage that only one optional branch
needs and that would load TensorFlow for nothing (``sdnet data --preview``) is imported in that branch,
marked the same way.
``tests/test_cli.py`` checks that ``import pipeline.cli`` loads none of
TensorFlow, Keras and Beam.
"""
