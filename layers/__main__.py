"""``python -m layers``: build (or reuse) the Lambda layers and print their folders."""

from __future__ import annotations

from layers.build import main

raise SystemExit(main())
