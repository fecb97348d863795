"""The desktop window: thin Qt adapters over the Qt-free engine.

Everything Qt lives below this package; ``trackdesk.engine`` never imports it.
"""
