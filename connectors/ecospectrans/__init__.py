"""Connector for ТОВ «Екоспецтранс» (solid-waste collection): REST/JSON behind OAuth2 client credentials.

Kept import-light on purpose: the simulator and the mapping check import ``categories`` without pulling
in the HTTP client.
"""
