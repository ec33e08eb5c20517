"""``python -m robustune.bench CELL_FOLDER``: run one cell (the runner starts one such process per cell)."""

import sys

from .worker import main

sys.exit(main())
