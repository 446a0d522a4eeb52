"""sdnet: the core (skeleton, camera, ICVL format, geometry, config, schema, input, run layout), the stages
(data, training, refinement fitting, inference, predict, export), orchestration and the CLI; the README's
"Layout" gives the layers."""
