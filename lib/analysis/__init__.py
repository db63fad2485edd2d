"""What the app works out from calls: Compare, the cost timeline, reports, the token inspector, the
walkthrough's demos, experiments, attribution. Calls go through lib.backends, records through lib.store.
"""
