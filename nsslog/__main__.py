"""Run nsslog as `python -m nsslog`."""

from nsslog.cli import main

if __name__ == "__main__":
    main()
