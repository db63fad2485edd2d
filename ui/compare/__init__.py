"""The Compare page's glue (pages/compare.py lays its parts out through these): `setup` (the variant
slots, kept with the session, planned by the one builder; the Token inspector plans through it too),
`cards` (a card of widgets per variant), `before` (the Run row, the summaries a variant still needs,
what each variant sends), `runs` (a run started, held per session for the process, drawn while it
goes, kept and logged when it ends) and `results` (a comparison's answers side by side, the kept
comparisons). What a run sends, how its calls are logged and what it costs is decided in
lib/analysis/compare.py; where a variant's call goes, in lib/analysis/targets.py."""
