"""The Textual lab: `convlab` with no arguments opens it (see app.py).

The TUI never imports torch: presets come from convlab.config.spec, runs from the
store, and training happens in a `convlab run --json` subprocess.
"""
