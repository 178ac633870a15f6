"""MQTT in, validated readings out to InfluxDB (with a disk spool), then on to the detectors."""
