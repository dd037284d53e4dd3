"""The headless command line: the same services the GUI uses, one subcommand each."""
