from moderation_lab.bench.run import main

raise SystemExit(main())
