"""The pure table format: commits, table state, refs. No I/O, no pyarrow."""
