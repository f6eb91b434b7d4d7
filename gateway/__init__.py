"""Integration gateway between the Kryvyi Rih contact centre 1520 and the utilities' job systems.

The core package never imports a connector or a DAG: connectors depend on it, not the other way round.
"""
