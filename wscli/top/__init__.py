"""`wscli top`: a live terminal view of a running `wscli serve`, read from its ``/metrics``,
``/healthz`` and ``/log`` (so it works against any wscli server, local or remote)."""
