from worker.bench.run import main

raise SystemExit(main())
