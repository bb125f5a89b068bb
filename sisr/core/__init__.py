"""The cores the entry points share: training (`training`), two-stage experiments (`stages`), evaluation of
checkpoints and weight files (`evaluation`) and of precomputed outputs (`precomputed`)."""
