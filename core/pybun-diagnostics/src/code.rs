//! The registry of stable diagnostic codes. `SPECS.md` lists them; a test in
//! `pybun-e2e` checks that the list there matches this one.

macro_rules! codes {
    ($( $variant:ident = $code:literal : $summary:literal, )*) => {
        /// A stable diagnostic code, the same in every frontend.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $variant, )*
        }

        impl Code {
            /// Every code, in registry order.
            pub const ALL: &'static [Code] = &[$( Code::$variant, )*];

            /// The code as shown to users, e.g. `PB0101`.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            /// One line saying what the code means.
            #[must_use]
            pub fn summary(self) -> &'static str {
                match self { $( Code::$variant => $summary, )* }
            }
        }
    };
}

codes! {
    // 00xx: usage and environment
    Usage = "PB0001": "invalid command-line usage",
    Io = "PB0002": "a file could not be read or written",
    NotImplemented = "PB0003": "the command is not implemented yet",
    Internal = "PB0004": "an internal error (a bug in PyBun)",
    // 01xx: project files
    PyprojectNotFound = "PB0100": "no `pyproject.toml` found in the directory or its parents",
    TomlSyntax = "PB0101": "the TOML is not valid",
    ProjectTable = "PB0102": "the `[project]` table is missing or invalid",
    InvalidRequirement = "PB0103": "a requirement string is not valid PEP 508",
    InvalidSpecifier = "PB0104": "a version specifier is not valid PEP 440",
    InvalidName = "PB0105": "a package or extra name is not valid",
    InvalidVersion = "PB0106": "a version is not valid PEP 440",
    UnknownKey = "PB0107": "a key is not known in this table",
    DynamicMisuse = "PB0108": "`dynamic` lists a field that is also given statically, or misses one",
    UnknownGroup = "PB0109": "a dependency group includes a group that does not exist",
    ToolSettings = "PB0110": "`[tool.pybun]` settings are invalid",
    DependencyNotFound = "PB0111": "a dependency to remove is not listed in `pyproject.toml`",
    ScriptMetadata = "PB0112": "a script's inline metadata block (PEP 723) is malformed",
    TaskInvalid = "PB0113": "a task in `[tool.pybun.scripts]` is invalid",
    UnknownTask = "PB0114": "a task name does not exist in `[tool.pybun.scripts]`",
    TaskCycle = "PB0115": "tasks depend on each other in a cycle",
    TaskShadowsCommand = "PB0116": "a task has the name of a built-in pybun command",
    // 02xx: index and network
    IndexUnreachable = "PB0200": "the package index could not be reached",
    IndexResponse = "PB0201": "the package index returned something that is not a valid Simple API page",
    IndexHttpStatus = "PB0202": "the package index answered with an HTTP error",
    OfflineCacheMiss = "PB0203": "offline, and the answer is not in the cache",
    InvalidMetadata = "PB0204": "a distribution's metadata is invalid",
    DynamicSdistMetadata = "PB0205": "an sdist's dependencies are dynamic and need a build",
    NoDistributions = "PB0206": "a version has no usable distribution file",
    // 03xx: resolution
    NoSolution = "PB0300": "no set of versions satisfies the requirements",
    PackageNotFound = "PB0301": "a package does not exist on any configured index",
    SplitNeeded = "PB0302": "the requirements need different versions on different platforms",
    DirectUrl = "PB0303": "a direct URL requirement cannot be used (its scheme or filename, two URLs for one package, or a package's own URL dependency)",
    // 04xx: lockfile
    LockSyntax = "PB0400": "the lockfile is not valid",
    LockVersion = "PB0401": "the lockfile was written by a newer PyBun",
    LockCorrupt = "PB0402": "the binary lockfile is truncated or corrupt",
    LockStale = "PB0403": "the lockfile does not match `pyproject.toml`",
    LockMissing = "PB0404": "there is no lockfile",

    InterpreterNotFound = "PB0500": "no Python interpreter matches the request",
    InvalidPythonRequest = "PB0501": "a Python request (`--python`, `.python-version`) is not valid",
    VenvInvalid = "PB0502": "the environment directory is not a usable virtual environment",
    HashMismatch = "PB0503": "a downloaded file does not have the locked hash",
    DownloadFailed = "PB0504": "a distribution file could not be downloaded",
    NoCompatibleWheel = "PB0505": "no locked file of a package can be installed on this interpreter",
    InstallFailed = "PB0506": "a distribution could not be installed or removed",
    InvalidWheel = "PB0507": "a wheel is invalid or unsafe",
    BuildFailed = "PB0508": "a PEP 517 build backend failed",

    RunTargetNotFound = "PB0600": "the script, task or command to run was not found",
    RunEnvironmentMissing = "PB0601": "the environment to run in does not exist",
    PythonInstallFailed = "PB0602": "a Python runtime could not be installed",

    TestSyntax = "PB0700": "a test file is not valid Python",
    TestConfigInvalid = "PB0701": "the pytest configuration is invalid",
    TestCollection = "PB0702": "pytest could not collect a test file",
    TestPluginMetadata = "PB0703": "an installed distribution's entry_points.txt is malformed (pytest cannot read it)",
    TestSnapshotObsolete = "PB0704": "a snapshot file has an entry for a test that no longer exists",
    TestSnapshotInvalid = "PB0705": "a snapshot file is malformed",
    // 080x: checks (`pybun check`, the language server)
    NoMatchingRelease = "PB0800": "no release of a package matches the requirement's version specifier",
    ChecksSkipped = "PB0801": "offline: the checks that need the package index were skipped",
}
