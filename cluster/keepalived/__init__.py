"""keepalived.conf: render it from the spec, parse it into a tree with file:line, lint it,
import it back into a spec, and run the real keepalived on it."""
