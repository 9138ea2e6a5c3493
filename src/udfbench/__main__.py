from udfbench.cli import main

status = main()
# Under ``python -m``, CPython ends the process by SIGINT, whatever status it exits with, once a
# KeyboardInterrupt has escaped any code run from a string (``exec`` of a string, which dataclasses
# and TensorFlow's imports use), even one udfbench caught: Ctrl-C during TensorFlow's import turned
# exit 130 into death by SIGINT. Every string eval resets that flag, so this one lets the status stand.
exec("", {})
raise SystemExit(status)
