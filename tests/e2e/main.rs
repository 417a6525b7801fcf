//! End-to-end tests: the real `turnpike` binary, real clients, real upstreams.
