"""``python -m app`` runs the same entry point as the ``tradedeck`` command."""

from app.main import main

raise SystemExit(main())
