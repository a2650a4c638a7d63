"""center — an open-source contact-center and omnichannel service platform."""

__version__ = "0.1.0"
