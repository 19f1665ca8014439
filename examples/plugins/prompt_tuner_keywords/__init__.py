"""An example prompt-tuner plugin (see plugin.py): install it with `pip install examples/plugins`."""
