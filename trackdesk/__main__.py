import sys

from trackdesk.cli import main

sys.exit(main())
