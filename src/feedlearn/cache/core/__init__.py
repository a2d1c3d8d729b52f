"""What every eviction policy builds on: the ``Policy`` hook interface and compiled data structures.

Kept apart from ``policies/`` (the registry of concrete policies) so that policies living elsewhere,
such as ``halp/``, can use them without importing the registry that lists them.
"""
