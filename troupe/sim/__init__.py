"""Emulators for tests and the demo: a Slack workspace and a Hue bridge.

Never imported by the runtime.
"""
