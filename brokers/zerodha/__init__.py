"""Zerodha Kite Connect: the broker adapter for Kite's REST API and WebSocket ticker."""
