"""PurgeWatch: evidence about accounts that vanish from social platforms."""

__version__ = "0.1.0"
