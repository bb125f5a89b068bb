"""Speed benchmarks: each measures two implementations side by side in one run and reports their ratio
(`python -m benchmarks.speed.<name>`)."""
