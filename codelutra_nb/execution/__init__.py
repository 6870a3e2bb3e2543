"""Running untrusted programs and queries, each kind in its own module."""
