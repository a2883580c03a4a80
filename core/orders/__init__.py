"""The life of an order: intent, broker, outcome; the tracker that writes it; the sync loop."""
