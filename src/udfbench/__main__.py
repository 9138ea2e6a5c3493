from udfbench.cli import main

raise SystemExit(main())
