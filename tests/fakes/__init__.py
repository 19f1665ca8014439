"""Test doubles: a loopback fake LLM server and the helpers that drive it."""
