"""huzhu (互助): the platform a city federation of trade unions runs for its members."""

__version__ = "0.1.0"
