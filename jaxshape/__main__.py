import sys

from jaxshape.cli import main

sys.exit(main())
