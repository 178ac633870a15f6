"""Simulated tracker fleets with labelled scenarios; they speak only the MQTT wire format."""
