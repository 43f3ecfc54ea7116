"""What to train and where things live: presets as typed specs, paths and user folders, cores."""
