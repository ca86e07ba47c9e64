"""`python -m huzhu` is the same as the `huzhu` console script."""

from huzhu.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
