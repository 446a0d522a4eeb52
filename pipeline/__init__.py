"""sdnet core: skeleton, camera, ICVL format, geometry, schema, input pipeline, config, CLI."""
