"""Entry point of the extraction worker process: ``python -m curate.extract._worker RFD WFD PARENT_PID``.

A module of its own so that ``-m`` never re-executes a module the package has already imported.
"""

import sys

from curate.extract.sandbox import main

if __name__ == "__main__":
    main(sys.argv[1:])
