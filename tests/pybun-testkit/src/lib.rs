//! Test kit: a local package index server, wheel and sdist builders, scenario loaders
