from sacflow.report.cli import main

raise SystemExit(main())
