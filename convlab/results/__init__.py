"""What runs produced, read back: comparison rows, statistics, confusion, exports."""
