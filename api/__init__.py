"""The HTTP side of CargoWatch: FastAPI app, SQL store of shipments and alerts, alert delivery."""
