"""nsslog: diagnose TLS and client-certificate failures from an Apache httpd error_log."""

__version__ = "0.1.0"
