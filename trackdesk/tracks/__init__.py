"""tracks.db storage (schema, migrations) and the track importers."""
