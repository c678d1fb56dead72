"""Run nsslog as `python -m nsslog`."""

from nsslog.cli import run

if __name__ == "__main__":
    run()
