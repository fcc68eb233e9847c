"""Filter implementations; the named filter specs users pick live in the top-level filters/ folder."""
