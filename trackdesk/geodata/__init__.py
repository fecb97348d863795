"""Offline geography: the shipped Natural Earth world (countries, land, cities), a
GeoNames gazetteer and time zones by position. Imports neither Qt, the engine nor
SQLAlchemy, so the skills' workers and the views both use it."""
