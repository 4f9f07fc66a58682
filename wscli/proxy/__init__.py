"""`wscli proxy`: a WebSocket-aware relay that shows every message and injects faults."""
