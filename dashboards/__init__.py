"""Grafana dashboards as code, their provisioning, and checks that every panel's query runs."""
