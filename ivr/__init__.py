"""ivr: a 12333-style hotline driven by a JSON menu, served as TwiML."""

__version__ = "0.1.0"
