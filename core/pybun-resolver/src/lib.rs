//! PubGrub resolution over the PackageIndex port
