"""atlas-sa: a self-hostable MongoDB Atlas Administration API v2 Service Accounts server."""

__version__ = "0.1.0"
