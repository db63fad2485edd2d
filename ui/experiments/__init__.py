"""The Experiments page's glue (pages/experiments.py draws its sections through these): `common` (the
page's notes and its calls to the store), `test_sets` (the Test set section: sets, the case editor,
import and export), `run` (the Run section: variants, the run's settings, the estimate, the start),
`results` (a run's results, live while it runs, its controls and exports, the Batch API round trip).
What anything means is decided in lib/analysis/experiments; the state is named in ui/state.py and read
through ui/experiments_state.py."""
