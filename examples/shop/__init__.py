"""A FastAPI + SQLAlchemy shop and its pricing service, with planted performance problems
(see README.md)."""
