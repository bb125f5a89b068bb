"""Running a generator on images: device and precision choice, memory budgets (`runtime`), tiling and the
self-ensemble (`tiling`). Used by validation, evaluation, `sisr.upscale` and `sisr.export`."""
