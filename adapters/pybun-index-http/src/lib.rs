//! PackageIndex port over HTTP: PEP 691/503, PEP 658, range requests, HTTP cache, find-links
