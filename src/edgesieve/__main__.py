from edgesieve.cli.main import main

raise SystemExit(main())
