import sys

from distill_scaling.cli import main

sys.exit(main())
