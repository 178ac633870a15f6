"""CargoWatch's composition root: settings, command line and process wiring."""
