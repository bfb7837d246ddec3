from moderation_lab.bench.main import main

raise SystemExit(main())
