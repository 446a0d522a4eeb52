"""The synthetic depth-hand generator behind ``sdnet synth`` (its driver: ``pipeline.build_synth``).

A tree it writes is an ICVL tree plus ``synth.json`` (``MANIFEST``): everything that determines the
tree's bytes, and under "generator" the mode that made it (``eval.run_report.TestSet`` reads it).
"""
MANIFEST = "synth.json"
SYNTH_GENERATOR = "sdnet synth"
POSES_GENERATOR = "sdnet synth --poses"
