"""leadimport: load lead spreadsheets into Trackdrive's leads/create_or_update endpoint."""

__version__ = "0.1.0"
