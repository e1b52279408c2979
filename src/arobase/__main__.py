import sys

from arobase.cli.main import main

sys.exit(main())
