"""End-to-end tests: real Alertmanager, Prometheus and runbookd processes against the vendor fakes."""
