"""`python -m devsecrets`."""

from devsecrets.cli import main

if __name__ == "__main__":
    main()
