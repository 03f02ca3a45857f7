"""The commands: one module per `meek` command (or command group), each taking its parsed request and the output and
returning the exit code. The CLI (harness/cli/) calls only this layer; the domain packages below never import it."""
