"""Terminal text and pictures shared by the CLI and the lab."""
