"""Git: committing runs, pushing them, reading history, changed paths, hooks."""
