"""Request bodies to validated float64 arrays: pure functions, no I/O."""
