"""The fault suite: real Redis, API and worker processes, faults injected with real signals."""
