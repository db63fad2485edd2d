"""The presenter's view's glue (pages/present.py): its style, the conversation with big in/out toggles
and the two big numbers, and the steps through a saved comparison or experiment run."""
