"""tradedeck application: CLI, Qt start-up, the engine bridge and the main window."""
