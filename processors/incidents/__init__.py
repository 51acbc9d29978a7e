"""The ``incidents`` processor: open findings grouped into incidents with a probable cause."""
