"""The leaderboard pipeline, one module per step: profile -> train -> collect -> score -> measure -> assemble ->
render (table, report, html, plots, visual). `suite.run_suite` runs the steps in order; `python -m benchmarks.run`
is its command line. Profiles and the papers' numbers are package data beside these modules."""
