from center.cli import main

raise SystemExit(main())
