"""`python -m devsecrets`."""

from devsecrets.entry import main

if __name__ == "__main__":
    main()
