"""`python -m gateway` is the `consentgate` command."""

from gateway.cli import main

raise SystemExit(main())
