"""CargoWatch's pure core: the domain model and the streaming detectors, with no I/O."""
