"""dialerd: a predictive dialer daemon for Asterisk."""

__version__ = "0.1.0"
