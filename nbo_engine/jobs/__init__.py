"""I/O orchestration shared by the CLI and the scheduler."""
