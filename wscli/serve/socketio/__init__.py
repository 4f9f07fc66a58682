"""`wscli serve --socketio`: an Engine.IO v4 / Socket.IO v5 server beside the raw clients.

Sans-I/O layers (:mod:`.engine`, :mod:`.polling`, :mod:`.sockets`, :mod:`.bridge`) under a
thin glue (:mod:`.links`, :mod:`.service`) into the server.
"""
