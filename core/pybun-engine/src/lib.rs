//! Use cases: plain-data requests in, outcomes out, progress through the Reporter port
