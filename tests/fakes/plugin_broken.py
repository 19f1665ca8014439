"""A plugin that cannot be imported (tests/test_plugins.py)."""

raise ImportError("this plugin needs a package that is not installed")
