//! End-to-end harness: local index server, wheel and sdist builders, scenario runners
