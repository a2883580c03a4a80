"""The Kite ticker client against the fake ticker over loopback."""
