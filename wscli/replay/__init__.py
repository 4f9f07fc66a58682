"""`wscli replay`: a recorded conversation played back (mock server or client)."""
