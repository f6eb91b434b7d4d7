"""Stand-ins for the utilities' systems: real servers on loopback speaking the real protocols.

Used by the tests and by ``make demo``; never by the gateway itself.
"""
