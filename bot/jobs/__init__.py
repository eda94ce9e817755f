"""Durable background work: typed payloads, lanes, a registry of handlers, supervised workers."""
