//! FileSystem port over the operating system: atomic writes, file locks
