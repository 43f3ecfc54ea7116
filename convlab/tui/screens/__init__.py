"""The lab's screens: home (presets and runs), the live view of a run, the
preset editor, the run settings form, help and small dialogs."""
