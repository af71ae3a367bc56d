"""The session agent: a per-user process that holds a project's values in memory for a
shell session, so that `run` need not ask the providers every time.

protocol.py  the wire format (JSON headers, values as raw byte frames)
server.py    the agent process: socket, peer checks, requests, lifetime
store.py     sessions: fetch, hold, serve, wipe
client.py    connect, requests, `ensure_agent()`
fastpath.py  the warm `run`: ask the agent without importing click, yaml or keyring
rundir.py    the private runtime directory and the socket in it
peer.py      platform: who is on the other end of the socket, and its process ancestry
harden.py    platform: keep other processes out of the agent's memory
"""
