//! `pybun test`: discover in Rust (pytest's rules), select, shard, run in
//! Python worker processes, record durations and failures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pybun_diagnostics::{Code, Diagnostic};
use pybun_env::EnvironmentInputs;
use pybun_ports::{RunnerConfig, TestBatch, TestEngine, TestResult, TestRunner};
use pybun_testing::{
    CONFIG_FILES, Mark, ModuleTests, TestConfig, TestItem, TestKind, dynamic_files, files_under_ignore_hooks, walk,
};

use crate::Failure;
use crate::lock::IndexSettings;
use crate::run::{RunRequest, RunTarget, environment_plan};
use crate::sync::SyncPorts;
use crate::test_select::{Expr, batches, keyword_matches, marker_matches, parse_expr, shard};
use crate::test_ignore::{
    collect_ignore_dirs, collection_args, conftest_ignore_lists, file_of, ignore_options, ignored_by_conftests, ignored_by_options, initial_path,
};
use crate::test_plugins::{autoloaded_plugins, named_plugin_reasons, plugin_compat, plugin_options, problem_warnings};
use crate::test_snapshots::{obsolete_keys, parse_snapshots, serialize_snapshots, snapshot_file};

/// Which engine runs the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EngineChoice {
    /// Native where the static analysis allows, pytest where a module needs it.
    #[default]
    Auto,
    Native,
    Pytest,
}

/// `pybun test`.
#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    pub directory: PathBuf,
    /// Files, directories or node ids to run (prefixes of node ids); empty: all.
    pub paths: Vec<String>,
    pub keyword: Option<String>,
    pub marker: Option<String>,
    /// Stop after this many failures.
    pub bail: Option<usize>,
    /// `(index, count)`, 1-based index.
    pub shard: Option<(usize, usize)>,
    pub last_failed: bool,
    pub failed_first: bool,
    pub collect_only: bool,
    pub workers: usize,
    pub engine: EngineChoice,
    pub python: Option<String>,
    pub frozen: bool,
    pub index: IndexSettings,
    pub environment: EnvironmentInputs,
    /// `--watch`: the files that changed (absolute). Only the tests they
    /// affect run (see [`affected_files`]); `None`: no restriction.
    pub changed: Option<Vec<PathBuf>>,
    /// Workers compile modules without keeping the bytecode in PyBun's cache
    /// (`<cache>/test-bytecode-v1`, Python's `sys.pycache_prefix`).
    pub no_bytecode_cache: bool,
    /// The environment variables pytest reads for its plugins.
    pub pytest_variables: PytestVariables,
    /// `--update-snapshots`: the `snapshot` fixture rewrites mismatched
    /// entries, and obsolete entries are removed from the snapshot files.
    pub update_snapshots: bool,
}

/// The environment variables that tell pytest which plugins to load (the
/// frontend reads them; core does no IO).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PytestVariables {
    /// `PYTEST_DISABLE_PLUGIN_AUTOLOAD` is set (non-empty, as pytest checks it).
    pub disable_plugin_autoload: bool,
    /// `PYTEST_ADDOPTS`.
    pub addopts: Option<String>,
    /// `PYTEST_PLUGINS`.
    pub plugins: Option<String>,
}

/// A test chosen to run, with how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTest {
    pub node_id: String,
    pub engine: TestEngine,
}

/// Why a module runs under pytest (`--pytest-compat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatReason {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// What `pybun test` did.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub rootdir: PathBuf,
    pub config_file: Option<String>,
    pub collected: usize,
    pub tests: Vec<PlannedTest>,
    pub deselected: usize,
    pub results: Vec<TestResult>,
    pub compat: Vec<CompatReason>,
    pub collection_errors: Vec<Diagnostic>,
    /// pytest's exit code: 0 all passed, 1 failures, 2 interrupted (collection errors), 5 no tests.
    pub exit_code: u8,
    pub stopped_early: bool,
    pub warnings: Vec<Diagnostic>,
}

/// Where durations are recorded (committable: sorted, rounded).
pub const DURATIONS_FILE: &str = ".pybun/test-durations.json";
/// The last run's failures (`--last-failed`, `--failed-first`).
pub const LAST_FAILED_FILE: &str = ".pybun/test-lastfailed.json";

/// Run the project's tests.
///
/// # Errors
/// An unusable environment, an invalid expression or shard.
pub fn run_tests(
    request: &TestRequest,
    ports: &SyncPorts<'_>,
    runner: &dyn TestRunner,
    on_result: &(dyn Fn(&TestResult) + Sync),
) -> Result<TestOutcome, Failure> {
    let keyword = request.keyword.as_deref().map(|k| parse(k, "-k")).transpose()?;
    let marker = request.marker.as_deref().map(|m| parse(m, "-m")).transpose()?;
    if let Some((index, count)) = request.shard
        && (count == 0 || index == 0 || index > count)
    {
        return Err(usage(format!("invalid shard `{index}/{count}`"), "give `--shard I/N` with 1 <= I <= N"));
    }
    let rootdir = crate::project::find_project_root(ports.fs, &request.directory).unwrap_or_else(|| request.directory.clone());

    // Configuration and discovery.
    let mut files: Vec<(&str, String)> = Vec::new();
    for name in CONFIG_FILES {
        let name: &str = name;
        if let Ok(text) = ports.fs.read_to_string(&rootdir.join(name)) {
            files.push((name, text));
        }
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let (config, config_file, mut collection_errors) = TestConfig::from_files(&refs);
    collection_errors.retain(Diagnostic::is_error);
    // Plugins: named by `-p` / PYTEST_PLUGINS (every module runs under
    // pytest), autoloaded from the environment (known once it is prepared).
    let config_text = config_file.as_deref().and_then(|name| files.iter().find(|(n, _)| *n == name)).map(|(n, t)| (*n, t.as_str()));
    let plugin_options = plugin_options(
        &config.addopts,
        config_text,
        request.pytest_variables.addopts.as_deref(),
        request.pytest_variables.disable_plugin_autoload,
    );
    let named_plugins = named_plugin_reasons(&plugin_options, request.pytest_variables.plugins.as_deref());
    let list = |dir: &str| -> Vec<(String, bool)> {
        let path = if dir.is_empty() { rootdir.clone() } else { rootdir.join(dir) };
        ports.fs.list_dir(&path).unwrap_or_default()
    };
    let mut walked = walk("", &config, &list);
    let wanted_paths: Vec<String> = request.paths.iter().map(|p| normalize_path(p, &request.directory, &rootdir)).collect();
    // `--ignore` / `--ignore-glob` in addopts or PYTEST_ADDOPTS: pytest does not reach those files.
    let option_words: Vec<String> = [config.addopts.as_str(), request.pytest_variables.addopts.as_deref().unwrap_or_default()]
        .iter()
        .flat_map(|text| pybun_testing::shlex_split(text).unwrap_or_else(|| text.split_whitespace().map(str::to_string).collect()))
        .collect();
    let ignore = ignore_options(&option_words, &|value| normalize_path(value, &request.directory, &rootdir));
    if !ignore.is_empty() {
        walked.test_files.retain(|rel| !ignored_by_options(rel, initial_path(rel, &wanted_paths, &config.testpaths), &ignore));
    }
    // A run needs the environment and its workers: prepared first, so the
    // workers start (in the background) while discovery runs.
    let mut environment: Option<(crate::run::RunPlan, bool)> = None;
    if !request.collect_only && !walked.test_files.is_empty() {
        let found = prepare_environment(request, ports)?;
        runner.prestart(&runner_config(request, ports, &found.0, &rootdir, request.workers.max(1)));
        environment = Some(found);
    }
    let mut modules = crate::test_discovery::discover_files(ports, &rootdir, &config, walked.test_files.iter().chain(walked.conftests.iter()));

    // A conftest's `collect_ignore` / `collect_ignore_glob` read statically: pytest does not reach those files.
    let conftest_ignores = conftest_ignore_lists(&walked.conftests, &modules);
    if conftest_ignores.iter().any(|(_, lists)| lists.is_some()) {
        walked.test_files.retain(|rel| !ignored_by_conftests(rel, initial_path(rel, &wanted_paths, &config.testpaths), &conftest_ignores));
    }

    // Which modules need pytest: their own reasons, and their conftests'.
    let mut compat = Vec::new();
    let mut needs_pytest: BTreeSet<String> = BTreeSet::new();
    // Each conftest's directory and reasons, once (a large suite pairs
    // thousands of files with hundreds of conftests).
    let conftests_needing_pytest: Vec<(&str, &String, &ModuleTests)> = walked
        .conftests
        .iter()
        .filter_map(|conftest| modules.get(conftest).map(|c| (conftest.trim_end_matches("conftest.py"), conftest, c)))
        .filter(|(_, _, c)| !c.needs_pytest.is_empty())
        .collect();
    for rel in &walked.test_files {
        let Some(module) = modules.get(rel) else { continue };
        let mut reasons: Vec<CompatReason> = module
            .needs_pytest
            .iter()
            .map(|r| CompatReason { file: rel.clone(), line: r.line, reason: r.reason.clone() })
            .collect();
        for &(dir, conftest, c) in &conftests_needing_pytest {
            if rel.starts_with(dir) {
                reasons.extend(c.needs_pytest.iter().map(|r| CompatReason { file: conftest.clone(), line: r.line, reason: r.reason.clone() }));
            }
        }
        if !reasons.is_empty() {
            needs_pytest.insert(rel.clone());
            for reason in reasons {
                if !compat.contains(&reason) {
                    compat.push(reason);
                }
            }
        }
        collection_errors.extend(module.errors.iter().cloned());
    }

    if !named_plugins.is_empty() {
        needs_pytest.extend(walked.test_files.iter().cloned());
        compat.extend(named_plugins);
    }

    // Files whose node ids only pytest can tell: pytest collects them (in a
    // worker), the others keep their static ids.
    let affected: Option<BTreeSet<String>> =
        request.changed.as_ref().and_then(|changed| affected_files(changed, &rootdir, &walked.test_files, &modules));
    let file_in_play = |rel: &String| {
        affected.as_ref().is_none_or(|files| files.contains(rel)) && (wanted_paths.is_empty() || wanted_paths.iter().any(|p| file_wanted(p, rel)))
    };
    let dynamic_reasons = dynamic_files(&walked.test_files, &modules, &config);
    // In pytest's order (its collection follows the order of its arguments).
    let mut dynamic: Vec<String> = walked.test_files.iter().filter(|rel| dynamic_reasons.contains_key(*rel) && file_in_play(rel)).cloned().collect();
    // A plain run sends each needs-pytest file whole to pytest (below), which
    // reports its own ids: asking pytest for them first would only cost a
    // second collection. Listing, narrowing (`-k`, `-m`, `--last-failed`,
    // `--failed-first`, `--shard`, a node id inside the file), fail-fast (one
    // test per batch) and the native engine need them up front.
    // Files under a conftest's `collect_ignore`: pytest, given their
    // directory, tells which it collects (always asked: a run must not run
    // what pytest leaves out).
    let ignore_dirs = collect_ignore_dirs(&walked.conftests, &modules);
    let needs_ids_first = |rel: &String| {
        ignore_dirs.iter().any(|dir| rel.starts_with(dir.as_str())) ||
        request.collect_only
            || request.keyword.is_some()
            || request.marker.is_some()
            || request.last_failed
            || request.failed_first
            || request.shard.is_some()
            || request.bail.is_some()
            || request.engine == EngineChoice::Native
            || wanted_paths.iter().any(|p| p.split_once("::").is_some_and(|(file, _)| file == rel))
    };
    dynamic.retain(|rel| needs_ids_first(rel));
    // Files under a conftest's `pytest_ignore_collect`: the native harness asks
    // the hook which pytest would not collect at all (listing and sharding
    // need it; a run drops their results anyway). A hook it cannot ask sends
    // the files to pytest's collection.
    let under_ignore_hooks: Vec<String> = if request.collect_only || request.shard.is_some() {
        // (Not the files named as arguments: pytest never ignores those.)
        files_under_ignore_hooks(&walked.test_files, &modules)
            .into_iter()
            .filter(|rel| file_in_play(rel) && initial_path(rel, &wanted_paths, &[]) != rel)
            .collect()
    } else {
        Vec::new()
    };
    let asked_ignore_hooks = !under_ignore_hooks.is_empty();
    if !under_ignore_hooks.is_empty() {
        let found = match environment.take() {
            Some(found) => found,
            None => prepare_environment(request, ports)?,
        };
        match runner.ignored(&runner_config(request, ports, &found.0, &rootdir, 1), under_ignore_hooks.clone()) {
            Ok(ignored) => {
                // (pytest would never collect them: not even the dynamic ones.)
                dynamic.retain(|rel| !ignored.contains(rel));
                for rel in ignored {
                    if let Some(module) = modules.get_mut(&rel) {
                        module.items.clear();
                    }
                }
            }
            Err(_) => {
                dynamic.extend(under_ignore_hooks.into_iter().filter(|rel| !dynamic.contains(rel)).collect::<Vec<_>>());
                dynamic.sort_by_key(|rel| walked.test_files.iter().position(|f| f == rel));
            }
        }
        environment = Some(found);
    }
    // The files pytest collected: their items are pytest's own.
    let mut collected_files: BTreeSet<String> = BTreeSet::new();
    // A conftest hook that sees the whole session (`pytest_collection_modifyitems`…):
    // pytest collects everything wanted, and its order is the session's.
    let everywhere = walked.conftests.iter().any(|c| modules.get(c).is_some_and(|m| !m.dynamic_everywhere.is_empty()));
    let mut session_order: Option<Vec<(String, String)>> = None;
    let mut warnings = Vec::new();
    if !dynamic.is_empty() {
        let (plan, pytest_available) = match environment.take() {
            Some(found) => found,
            None => prepare_environment(request, ports)?,
        };
        if pytest_available {
            let runner_config = runner_config(request, ports, &plan, &rootdir, 1);
            // Everything wanted, unnarrowed: pytest's own arguments (it may collect non-Python files too).
            let args = if everywhere && wanted_paths.is_empty() && affected.is_none() {
                Vec::new()
            } else {
                collection_args(&dynamic, &ignore_dirs, &wanted_paths)
            };
            match runner.collect(&runner_config, args) {
                Ok(collected) => {
                    let order = merge_collected(&mut modules, &dynamic, everywhere, collected, &mut collection_errors);
                    collected_files.extend(dynamic.iter().cloned());
                    if everywhere {
                        for (_, rel) in &order {
                            if !walked.test_files.contains(rel) {
                                // A file only a hook collects (`pytest_collect_file`): pytest runs it.
                                needs_pytest.insert(rel.clone());
                                collected_files.insert(rel.clone());
                            }
                        }
                        session_order = Some(order);
                    }
                }
                Err(e) => warnings.push(
                    Diagnostic::warning(Code::TestCollection, format!("pytest could not collect {} file(s) whose node ids only it can tell: {e}", dynamic.len()))
                        .with_hint("their statically read node ids are used; `--pytest-compat` lists why they need pytest"),
                ),
            }
        } else {
            warnings.push(
                Diagnostic::warning(
                    Code::NotImplemented,
                    format!(
                        "{} file(s) have node ids only pytest can tell (e.g. `{}`), but pytest is not installed in `{}`: using the ids read statically",
                        dynamic.len(),
                        dynamic[0],
                        plan.environment.display()
                    ),
                )
                .with_hint("add pytest to the project's dev dependencies (`pybun add --dev pytest`); `--pytest-compat` lists the reasons"),
            );
        }
        environment = Some((plan, pytest_available));
    }

    // Selection.
    // Borrowed from the modules (a large suite has tens of thousands of items):
    // mark names are copied only for a `-k` / `-m` filter.
    let all: Vec<(&str, &[Mark], &str)> = match &session_order {
        Some(order) => {
            let items: std::collections::HashMap<&str, (&TestItem, &str)> = modules
                .iter()
                .flat_map(|(rel, m)| m.items.iter().map(move |item| (item.node_id.as_str(), (item, rel.as_str()))))
                .collect();
            order
                .iter()
                .filter_map(|(id, _)| items.get(id.as_str()))
                .map(|(item, rel)| (item.node_id.as_str(), item.marks.as_slice(), *rel))
                .collect()
        }
        None => walked
            .test_files
            .iter()
            .filter_map(|rel| modules.get(rel).map(|m| (rel, m)))
            .flat_map(|(rel, m)| m.items.iter().map(move |item| (item.node_id.as_str(), item.marks.as_slice(), rel.as_str())))
            .collect(),
    };
    let collected = all.len();
    let last_failed: BTreeSet<String> = read_json_list(ports, &rootdir.join(LAST_FAILED_FILE));
    let (durations, durations_text) = read_durations(ports, &rootdir.join(DURATIONS_FILE));
    let mark_names = |marks: &[Mark]| -> Vec<String> { marks.iter().map(|k| k.name.clone()).collect() };
    let mut selected: Vec<(&str, &str)> = all
        .iter()
        .filter(|(_, _, rel)| affected.as_ref().is_none_or(|files| files.contains(*rel)))
        .filter(|(id, _, _)| wanted_paths.is_empty() || wanted_paths.iter().any(|p| path_selects(p, id)))
        .filter(|(id, marks, _)| keyword.as_ref().is_none_or(|k| keyword_matches(k, id, &mark_names(marks))))
        .filter(|(_, marks, _)| marker.as_ref().is_none_or(|m| marker_matches(m, &mark_names(marks))))
        .filter(|(id, _, _)| !request.last_failed || last_failed.is_empty() || last_failed.contains(*id))
        .map(|(id, _, rel)| (*id, *rel))
        .collect();
    let deselected = collected - selected.len();
    if let Some((index, count)) = request.shard {
        let ids: Vec<String> = selected.iter().map(|(id, _)| (*id).to_string()).collect();
        let keep: BTreeSet<String> = shard(&ids, &durations, index - 1, count).into_iter().collect();
        selected.retain(|(id, _)| keep.contains(*id));
    }
    let engine_of = |rel: &str| match request.engine {
        EngineChoice::Native => TestEngine::Native,
        EngineChoice::Pytest => TestEngine::Pytest,
        EngineChoice::Auto if needs_pytest.contains(rel) => TestEngine::Pytest,
        EngineChoice::Auto => TestEngine::Native,
    };
    let tests: Vec<PlannedTest> = selected.iter().map(|(id, rel)| PlannedTest { node_id: (*id).to_string(), engine: engine_of(rel) }).collect();
    let mut outcome = TestOutcome {
        rootdir: rootdir.clone(),
        config_file,
        collected,
        tests: Vec::new(),
        deselected,
        results: Vec::new(),
        compat,
        collection_errors,
        exit_code: 0,
        stopped_early: false,
        warnings,
    };
    if request.collect_only || tests.is_empty() || !outcome.collection_errors.is_empty() {
        outcome.exit_code = if !outcome.collection_errors.is_empty() {
            2
        } else if tests.is_empty() {
            5
        } else {
            0
        };
        outcome.tests = tests;
        // A large suite's discovery results take a while to free: on the
        // pool, off the way to the output.
        rayon::spawn(move || drop(modules));
        return Ok(outcome);
    }
    outcome.tests.clone_from(&tests);

    // The environment, then the workers.
    let (plan, pytest_available) = match environment {
        Some(found) => found,
        None => prepare_environment(request, ports)?,
    };
    let mut tests = tests;
    // The plugins pytest autoloads from the environment: the modules they reach run under pytest.
    match ports.environments.entry_point_files(&plan.environment) {
        Ok(files) => {
            let (plugins, problems) = autoloaded_plugins(&files, &plugin_options);
            let (reasons, reached) = plugin_compat(&plugins, &rootdir, &walked.test_files, &modules);
            outcome.warnings.extend(problem_warnings(&problems));
            for reason in reasons {
                if !outcome.compat.contains(&reason) {
                    outcome.compat.push(reason);
                }
            }
            if request.engine == EngineChoice::Auto && !reached.is_empty() {
                for test in &mut tests {
                    if reached.contains(test.node_id.split("::").next().unwrap_or(&test.node_id)) {
                        test.engine = TestEngine::Pytest;
                    }
                }
                outcome.tests.clone_from(&tests);
                needs_pytest.extend(reached);
            }
        }
        Err(e) => outcome.warnings.push(
            Diagnostic::warning(Code::Io, format!("could not list the pytest plugins installed in `{}`: {e}", plan.environment.display()))
                .with_hint("plugins pytest would load automatically are not taken into account: `--engine pytest` runs exactly as pytest"),
        ),
    }
    if !pytest_available && tests.iter().any(|t| t.engine == TestEngine::Pytest) {
        let modules: BTreeSet<&str> = tests
            .iter()
            .filter(|t| t.engine == TestEngine::Pytest)
            .map(|t| t.node_id.split("::").next().unwrap_or(&t.node_id))
            .collect();
        outcome.warnings.push(
            Diagnostic::warning(
                Code::NotImplemented,
                format!(
                    "{} module(s) use pytest features the native engine may not reproduce, but pytest is not installed in `{}`: running them natively",
                    modules.len(),
                    plan.environment.display()
                ),
            )
            .with_hint("add pytest to the project's dev dependencies (`pybun add --dev pytest`) for exact results; `--pytest-compat` lists the reasons"),
        );
        for test in &mut tests {
            test.engine = TestEngine::Native;
        }
        outcome.tests.clone_from(&tests);
    }
    // Files under a conftest's `pytest_ignore_collect` that pytest would run:
    // pytest never ignores the paths it is given, so the hook is asked first
    // (the native engine asks it itself, and its ignored files are left out
    // after the run).
    if !asked_ignore_hooks && pytest_available && request.engine != EngineChoice::Native {
        let ask: Vec<String> = files_under_ignore_hooks(&walked.test_files, &modules)
            .into_iter()
            .filter(|rel| {
                file_in_play(rel)
                    && (request.engine == EngineChoice::Pytest || needs_pytest.contains(rel))
                    && initial_path(rel, &wanted_paths, &[]) != rel
            })
            .collect();
        if !ask.is_empty()
            && let Ok(ignored) = runner.ignored(&runner_config(request, ports, &plan, &rootdir, 1), ask)
        {
            let ignored: BTreeSet<String> = ignored.into_iter().collect();
            leave_out_files(&mut outcome, &mut tests, &all, &ignored);
            // (Nor sent whole to pytest.)
            needs_pytest.retain(|rel| !ignored.contains(rel));
        }
    }
    let ids: Vec<String> = if request.failed_first {
        let (first, rest): (Vec<&PlannedTest>, Vec<&PlannedTest>) = tests.iter().partition(|t| last_failed.contains(&t.node_id));
        first.into_iter().chain(rest).map(|t| t.node_id.clone()).collect()
    } else {
        tests.iter().map(|t| t.node_id.clone()).collect()
    };
    let engines: BTreeMap<&str, TestEngine> = tests.iter().map(|t| (t.node_id.as_str(), t.engine)).collect();
    let work: Vec<TestBatch> = if request.bail.is_some() {
        // Fail fast stops between tests: one test per batch, in order.
        ids.iter().map(|id| TestBatch { engine: engines[id.as_str()], ids: vec![id.clone()] }).collect()
    } else if request.failed_first && !last_failed.is_empty() {
        vec![TestBatch { engine: engines[ids[0].as_str()], ids: ids.clone() }]
    } else {
        // A module pytest runs, selected whole, goes to pytest as its path: the
        // node ids pytest reports are then its own, also where static
        // discovery could not know them (fixture `params=`, computed
        // parameters, tests inside `if`/`try`); a needs-pytest module with no
        // static items at all is sent too.
        let narrowed = keyword.is_some() || marker.is_some() || request.last_failed || request.shard.is_some();
        let mut whole: BTreeSet<&str> = BTreeSet::new();
        if !narrowed && pytest_available && request.engine != EngineChoice::Native {
            let mut selected_per_file: BTreeMap<&str, usize> = BTreeMap::new();
            for test in &tests {
                *selected_per_file.entry(test.node_id.split("::").next().unwrap_or(&test.node_id)).or_default() += 1;
            }
            for rel in &needs_pytest {
                let Some(module) = modules.get(rel) else { continue };
                let fully = if module.items.is_empty() && !collected_files.contains(rel) {
                    (wanted_paths.is_empty() || wanted_paths.iter().any(|p| !p.contains("::") && path_selects(p, &format!("{rel}::x"))))
                        && affected.as_ref().is_none_or(|files| files.contains(rel))
                } else {
                    selected_per_file.get(rel.as_str()).copied() == Some(module.items.len())
                };
                if fully {
                    whole.insert(rel.as_str());
                }
            }
        }
        let mut work: Vec<TestBatch> = batches(&ids, &durations)
            .into_iter()
            .map(|ids| {
                let file = ids[0].split("::").next().unwrap_or(&ids[0]).to_string();
                let engine = engines[ids[0].as_str()];
                if engine == TestEngine::Pytest && whole.remove(file.as_str()) {
                    TestBatch { engine, ids: vec![file] }
                } else {
                    TestBatch { engine, ids }
                }
            })
            .collect();
        // Modules with no static items left in `whole`.
        work.extend(whole.into_iter().filter(|rel| modules.get(*rel).is_some_and(|m| m.items.is_empty()) && !collected_files.contains(*rel)).map(|rel| TestBatch {
            engine: TestEngine::Pytest,
            ids: vec![rel.to_string()],
        }));
        let work = merge_pytest_batches(work, &durations, request.workers.max(1));
        coalesce_native_batches(work, &durations, request.workers.max(1))
    };
    let results = std::sync::Mutex::new(Vec::new());
    let failures = std::sync::atomic::AtomicUsize::new(0);
    let stopped = std::sync::atomic::AtomicBool::new(false);
    let bail = request.bail;
    runner
        .run(
            &runner_config(request, ports, &plan, &rootdir, request.workers.max(1)),
            work,
            &|result: TestResult| {
                on_result(&result);
                let failed = result.outcome.is_failure();
                results.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(result);
                if failed {
                    let count = failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    if bail.is_some_and(|limit| count >= limit) {
                        stopped.store(true, std::sync::atomic::Ordering::SeqCst);
                        return false;
                    }
                }
                true
            },
        )
        .map_err(|e| {
            Failure::new(
                Diagnostic::error(Code::RunTargetNotFound, format!("could not start the test workers: {e}"))
                    .with_hint("check that the environment's Python works (`pybun run -c 'print(1)'`)"),
            )
        })?;
    outcome.results = results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let failed = outcome.results.iter().filter(|r| r.outcome.is_failure()).count();
    outcome.stopped_early = stopped.load(std::sync::atomic::Ordering::SeqCst);
    outcome.exit_code = u8::from(failed > 0);
    if !outcome.stopped_early {
        // Files the native engine found ignored by a conftest's
        // `pytest_ignore_collect` report nothing: pytest would not list them.
        let reported: BTreeSet<&str> = outcome.results.iter().map(|r| file_of(&r.id)).collect();
        let under_hooks: BTreeSet<String> = files_under_ignore_hooks(&walked.test_files, &modules).into_iter().collect();
        let silent: BTreeSet<String> = tests
            .iter()
            .map(|t| file_of(&t.node_id))
            .filter(|rel| under_hooks.contains(*rel) && !reported.contains(rel))
            .map(str::to_string)
            .collect();
        if !silent.is_empty() {
            leave_out_files(&mut outcome, &mut tests, &all, &silent);
        }
        if outcome.results.is_empty() {
            outcome.exit_code = 5;
        }
    }

    // Record durations (merged, committable) and the failures.
    let mut all_durations = durations;
    for result in &outcome.results {
        let seconds = ((result.duration * 1000.0).round() / 1000.0).max(MIN_DURATION);
        match all_durations.get_mut(result.id.as_str()) {
            Some(recorded) => {
                if duration_changed(*recorded, seconds) {
                    *recorded = seconds;
                }
            }
            None => {
                all_durations.insert(result.id.clone(), seconds);
            }
        }
    }
    // (pytest's own ids of files sent whole count as known too.)
    let known: std::collections::HashSet<&str> =
        all.iter().map(|(id, _, _)| *id).chain(outcome.results.iter().map(|r| r.id.as_str())).collect();
    all_durations.retain(|id, _| known.contains(id.as_str()));
    // Snapshot files beside the test files that have tests (a file whose
    // tests are all gone is not looked at).
    let with_tests: BTreeSet<&str> = known.iter().map(|id| file_of(id)).collect();
    // (Only where the walk saw a `__snapshots__` directory: no read per test file.)
    let checked: Vec<&String> = walked
        .test_files
        .iter()
        .filter(|rel| with_tests.contains(rel.as_str()))
        .filter(|rel| walked.snapshot_dirs.contains(rel.rsplit_once('/').map_or("", |(dir, _)| dir)))
        .collect();
    outcome.warnings.extend(check_snapshots(ports, &rootdir, &checked, &known, request.update_snapshots));
    write_durations(ports, &rootdir.join(DURATIONS_FILE), &all_durations, &durations_text);
    let failed_ids: Vec<String> = outcome.results.iter().filter(|r| r.outcome.is_failure()).map(|r| r.id.clone()).collect();
    let text = format!(
        "[\n{}\n]\n",
        failed_ids.iter().map(|id| format!("  {}", json_string(id))).collect::<Vec<_>>().join(",\n")
    );
    let last_failed_path = rootdir.join(LAST_FAILED_FILE);
    if ports.fs.read_to_string(&last_failed_path).ok().as_deref() != Some(text.as_str()) {
        let _ = ports.fs.write_atomic(&last_failed_path, text.as_bytes());
    }
    Ok(outcome)
}

/// The obsolete entries of the snapshot files beside `test_files` (entries
/// whose test is not among the `known` node ids): a warning each, and with
/// `update` they are removed (the file too when nothing is left). A malformed
/// file is reported (every problem, with its line) and left as it is.
fn check_snapshots(ports: &SyncPorts<'_>, rootdir: &Path, test_files: &[&String], known: &std::collections::HashSet<&str>, update: bool) -> Vec<Diagnostic> {
    let mut warnings = Vec::new();
    for rel in test_files {
        let snap = snapshot_file(rel);
        let path = rootdir.join(&snap);
        let Ok(text) = ports.fs.read_to_string(&path) else { continue };
        let (entries, problems) = parse_snapshots(&text);
        if !problems.is_empty() {
            warnings.extend(problems.iter().map(|p| {
                Diagnostic::warning(Code::TestSnapshotInvalid, format!("{snap}:{}: {}", p.line, p.message))
                    .in_file(snap.clone())
                    .with_hint("fix or delete the file; `pybun test --update-snapshots` rewrites the entries its tests take")
            }));
            continue;
        }
        let obsolete: BTreeSet<&str> = obsolete_keys(&entries, known).into_iter().collect();
        if obsolete.is_empty() {
            continue;
        }
        let mut removed = false;
        if update {
            let kept: Vec<_> = entries.iter().filter(|e| !obsolete.contains(e.key.as_str())).cloned().collect();
            let written = if kept.is_empty() { ports.fs.remove_file(&path) } else { ports.fs.write_atomic(&path, serialize_snapshots(&kept).as_bytes()) };
            match written {
                Ok(()) => removed = true,
                Err(e) => warnings.push(
                    Diagnostic::warning(Code::Io, format!("could not remove the obsolete snapshots from `{snap}`: {e}"))
                        .with_hint("check the file's permissions"),
                ),
            }
        }
        for key in obsolete {
            let message = if removed {
                format!("obsolete snapshot `{key}` removed from `{snap}`")
            } else {
                format!("obsolete snapshot `{key}` in `{snap}`: no such test")
            };
            warnings.push(
                Diagnostic::warning(Code::TestSnapshotObsolete, message)
                    .in_file(snap.clone())
                    .with_hint("`pybun test --update-snapshots` removes obsolete snapshots"),
            );
        }
    }
    warnings
}

/// Leaves the test files `files` (which pytest would not collect) out of the
/// outcome: their planned tests, and their items from the counts.
fn leave_out_files(outcome: &mut TestOutcome, tests: &mut Vec<PlannedTest>, all: &[(&str, &[Mark], &str)], files: &BTreeSet<String>) {
    let planned = tests.len();
    tests.retain(|t| !files.contains(file_of(&t.node_id)));
    outcome.tests.retain(|t| !files.contains(file_of(&t.node_id)));
    let removed_planned = planned - tests.len();
    let removed = all.iter().filter(|(_, _, rel)| files.contains(*rel)).count();
    outcome.collected = outcome.collected.saturating_sub(removed);
    outcome.deselected = outcome.deselected.saturating_sub(removed.saturating_sub(removed_planned));
}

/// Whether a test's new duration replaces the recorded one: only a real change
/// (more than 5 ms and more than a quarter), so the committable file does not
/// churn with every run's noise (and is not rewritten when nothing changed).
fn duration_changed(recorded: f64, seconds: f64) -> bool {
    let difference = (seconds - recorded).abs();
    difference > 0.005 && difference > recorded * 0.25
}

/// The environment the tests run in (section 16's, synced when stale) and
/// whether pytest is installed in it.
fn prepare_environment(request: &TestRequest, ports: &SyncPorts<'_>) -> Result<(crate::run::RunPlan, bool), Failure> {
    let run_request = RunRequest {
        directory: request.directory.clone(),
        target: RunTarget::Code(String::new()),
        args: Vec::new(),
        with: Vec::new(),
        python: request.python.clone(),
        frozen: request.frozen,
        index: request.index.clone(),
        environment: request.environment.clone(),
    };
    let (plan, _) = environment_plan(&run_request, ports)?;
    let pytest_available = ports
        .fs
        .read_dir(&plan.environment.join("lib"))
        .unwrap_or_default()
        .iter()
        .any(|lib| ports.fs.exists(&lib.join("site-packages").join("pytest").join("__init__.py")));
    Ok((plan, pytest_available))
}

/// How the workers start: the environment's interpreter in the rootdir; the
/// bytecode of the modules they import kept in `<cache>/test-bytecode-v1`.
fn runner_config(request: &TestRequest, ports: &SyncPorts<'_>, plan: &crate::run::RunPlan, rootdir: &Path, workers: usize) -> RunnerConfig {
    let mut env = vec![("VIRTUAL_ENV".into(), plan.environment.display().to_string())];
    if !request.no_bytecode_cache {
        let dir = ports.build_cache.test_discovery_dir().with_file_name("test-bytecode-v1");
        env.push(("PYBUN_TEST_BYTECODE_DIR".into(), dir.display().to_string()));
    }
    if request.update_snapshots {
        env.push(("PYBUN_UPDATE_SNAPSHOTS".into(), "1".into()));
    }
    RunnerConfig { python: plan.environment.join("bin").join("python"), rootdir: rootdir.to_path_buf(), workers, env }
}

/// Whether a path argument (a node-id prefix) may select tests of the file `rel`.
fn file_wanted(arg: &str, rel: &str) -> bool {
    match arg.split_once("::") {
        Some((file, _)) => file == rel,
        None => path_selects(arg, &format!("{rel}::x")),
    }
}

/// Replaces the static items of the `dynamic` files with what pytest
/// collected (its ids, order and marks; with `everywhere`, also files static
/// discovery does not know); its collection errors become `PB0702`. Returns
/// pytest's order: `(node id, file)`.
fn merge_collected(
    modules: &mut BTreeMap<String, ModuleTests>,
    dynamic: &[String],
    everywhere: bool,
    collected: pybun_ports::Collected,
    errors: &mut Vec<Diagnostic>,
) -> Vec<(String, String)> {
    let mut per_file: BTreeMap<String, Vec<TestItem>> = dynamic.iter().map(|rel| (rel.clone(), Vec::new())).collect();
    let mut order = Vec::new();
    for test in &collected.tests {
        let file = test.id.split("::").next().unwrap_or(&test.id);
        if everywhere && !per_file.contains_key(file) {
            per_file.insert(file.to_string(), Vec::new());
        }
        let Some(items) = per_file.get_mut(file) else { continue };
        order.push((test.id.clone(), file.to_string()));
        let rest = test.id[file.len()..].trim_start_matches("::");
        // `TestA::test_b[x::y]`: the classes end before the last `::` outside the brackets.
        let head = rest.find('[').map_or(rest, |i| &rest[..i]);
        let (path, name) = match head.rfind("::") {
            Some(i) => (Some(rest[..i].to_string()), &rest[i + 2..]),
            None => (None, rest),
        };
        items.push(TestItem {
            node_id: test.id.clone(),
            name: name.to_string(),
            line: 0,
            class: path,
            marks: test.marks.iter().map(|m| Mark { name: m.clone(), args_source: String::new(), line: 0 }).collect(),
            kind: TestKind::Function,
            parametrized: name.contains('['),
            fixtures: Vec::new(),
        });
    }
    let asked: BTreeSet<String> = per_file.keys().cloned().collect();
    for (file, items) in per_file {
        modules.entry(file).or_default().items = items;
    }
    for (id, text) in collected.errors {
        let file = id.split("::").next().unwrap_or(&id).to_string();
        if file.ends_with(".py") && !asked.contains(&file) {
            // A module pytest reached through a directory given for another's sake.
            continue;
        }
        let last = text.trim_end().lines().last().unwrap_or("").trim().to_string();
        errors.push(
            Diagnostic::error(Code::TestCollection, format!("pytest could not collect `{file}`: {last}"))
                .with_hint("`pytest --collect-only` shows the same error; fix the module (or what it imports)"),
        );
    }
    order
}

/// The test files whose tests a change to `changed` may affect, or `None`
/// for "all": a test file: itself; a `conftest.py`: the test files under its
/// directory; another Python module: the test files that import it, and all
/// test files under a conftest that imports it (static imports, direct only);
/// a module nothing imports directly (it may be imported indirectly), a file
/// outside the rootdir, or a configuration file: all.
#[must_use]
pub(crate) fn affected_files(
    changed: &[PathBuf],
    rootdir: &Path,
    test_files: &[String],
    modules: &BTreeMap<String, ModuleTests>,
) -> Option<BTreeSet<String>> {
    let mut files = BTreeSet::new();
    for path in changed {
        let relative = path.strip_prefix(rootdir).ok()?.to_string_lossy().replace('\\', "/");
        let name = relative.rsplit('/').next().unwrap_or(&relative);
        if test_files.contains(&relative) {
            files.insert(relative.clone());
            continue;
        }
        let directory_of = |rel: &str| rel.rsplit_once('/').map_or(String::new(), |(d, _)| format!("{d}/"));
        let under = |prefix: String| test_files.iter().filter(move |f| f.starts_with(&prefix)).cloned().collect::<Vec<_>>();
        if name == "conftest.py" {
            files.extend(under(directory_of(&relative)));
            continue;
        }
        let stem = relative.strip_suffix(".py")?;
        let dotted = stem.strip_suffix("/__init__").unwrap_or(stem).replace('/', ".");
        // `src/pkg/util.py` is imported as `pkg.util` or `util` depending on sys.path: match suffixes.
        let components: Vec<&str> = dotted.split('.').collect();
        let suffixes: Vec<String> = (0..components.len()).map(|i| components[i..].join(".")).collect();
        let imports_it = |module: &ModuleTests| {
            module.imports.iter().any(|import| suffixes.iter().any(|s| import == s || import.starts_with(&format!("{s}."))))
        };
        let mut found = false;
        for (rel, module) in modules {
            if !imports_it(module) {
                continue;
            }
            found = true;
            if module.conftest {
                files.extend(under(directory_of(rel)));
            } else if test_files.contains(rel) {
                files.insert(rel.clone());
            }
        }
        if !found {
            return None;
        }
    }
    Some(files)
}

/// What starting pytest in a worker costs (importing it, `pytest.main`'s
/// configuration and collection), in seconds: measured 0.3-0.4 s on the
/// benchmark machine.
const PYTEST_SESSION_SECONDS: f64 = 0.35;

/// Each pytest batch is one `pytest.main` (its start-up costs a third of a
/// second): the pytest batches are merged into groups balanced by recorded
/// durations (longest first, each to the lightest group), placed before the
/// native batches. The number of groups (at most `workers`) is the one whose
/// estimated run is shortest: each group pays pytest's start-up, and the
/// native batches fill the workers around them.
fn merge_pytest_batches(work: Vec<TestBatch>, durations: &BTreeMap<String, f64>, workers: usize) -> Vec<TestBatch> {
    let (pytest, native): (Vec<TestBatch>, Vec<TestBatch>) = work.into_iter().partition(|b| b.engine == TestEngine::Pytest);
    if pytest.len() <= 1 {
        return pytest.into_iter().chain(native).collect();
    }
    let weight = |b: &TestBatch| -> f64 {
        b.ids
            .iter()
            .map(|id| {
                if id.contains("::") {
                    durations.get(id).copied().unwrap_or(crate::test_select::DEFAULT_DURATION)
                } else {
                    let prefix = format!("{id}::");
                    let known: f64 = durations.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(_, v)| *v).sum();
                    known.max(crate::test_select::DEFAULT_DURATION)
                }
            })
            .sum()
    };
    let mut weighted: Vec<(f64, TestBatch)> = pytest.into_iter().map(|b| (weight(&b), b)).collect();
    let pytest_seconds: f64 = weighted.iter().map(|(w, _)| w).sum();
    let native_seconds: f64 = native.iter().map(&weight).sum();
    let longest = weighted.iter().map(|(w, _)| *w).fold(0.0, f64::max);
    let estimate = |groups: usize| {
        let g = groups as f64;
        let spread = (g * PYTEST_SESSION_SECONDS + pytest_seconds + native_seconds) / workers as f64;
        let slowest_group = PYTEST_SESSION_SECONDS + (pytest_seconds / g).max(longest);
        spread.max(slowest_group)
    };
    let count = (1..=workers.min(weighted.len())).min_by(|a, b| estimate(*a).total_cmp(&estimate(*b))).unwrap_or(1);
    let mut groups: Vec<(f64, Vec<String>)> = vec![(0.0, Vec::new()); count];
    weighted.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (w, batch) in weighted {
        let lightest = groups.iter_mut().min_by(|a, b| a.0.total_cmp(&b.0)).expect("at least one group");
        lightest.0 += w;
        lightest.1.extend(batch.ids);
    }
    groups
        .into_iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(_, ids)| TestBatch { engine: TestEngine::Pytest, ids })
        .chain(native)
        .collect()
}

/// Consecutive native batches (ordered longest first) travel together, in
/// shrinking groups (guided self-scheduling): a group takes up to a quarter
/// of a worker's share of the native work still left when it starts. A worker
/// asks for work a few times per run rather than once per module (each ask is
/// a round trip through the pool), and the last groups are single modules, so
/// the workers finish together. Tests of one module stay in one batch.
fn coalesce_native_batches(work: Vec<TestBatch>, durations: &BTreeMap<String, f64>, workers: usize) -> Vec<TestBatch> {
    let weight = |b: &TestBatch| -> f64 {
        b.ids.iter().map(|id| durations.get(id).copied().unwrap_or(crate::test_select::DEFAULT_DURATION)).sum()
    };
    let mut remaining: f64 = work.iter().filter(|b| b.engine == TestEngine::Native).map(&weight).sum();
    let share = 1.0 / (workers.max(1) as f64 * 4.0);
    let mut out = Vec::with_capacity(work.len());
    let mut current: Option<(f64, f64, TestBatch)> = None;
    for batch in work {
        if batch.engine != TestEngine::Native {
            out.push(batch);
            continue;
        }
        let w = weight(&batch);
        match current.as_mut() {
            Some((sum, target, group)) if *sum + w <= *target => {
                *sum += w;
                group.ids.extend(batch.ids);
            }
            _ => {
                if let Some((_, _, group)) = current.take() {
                    out.push(group);
                }
                current = Some((w, remaining * share, batch));
            }
        }
        remaining -= w;
    }
    out.extend(current.map(|(_, _, group)| group));
    out
}

fn parse(text: &str, option: &str) -> Result<Expr, Failure> {
    parse_expr(text).map_err(|e| usage(format!("invalid `{option}` expression `{text}`: {e}"), "combine names with `and`, `or`, `not` and parentheses"))
}

fn usage(message: String, hint: &str) -> Failure {
    Failure::new(Diagnostic::error(Code::Usage, message).with_hint(hint))
}

/// A path argument as a node-id prefix relative to the rootdir.
fn normalize_path(arg: &str, directory: &Path, rootdir: &Path) -> String {
    let (path, rest) = match arg.split_once("::") {
        Some((p, r)) => (p, Some(r)),
        None => (arg, None),
    };
    let absolute = if Path::new(path).is_absolute() { PathBuf::from(path) } else { directory.join(path) };
    let mut components: Vec<String> = Vec::new();
    for part in absolute.components() {
        match part {
            std::path::Component::ParentDir => {
                components.pop();
            }
            std::path::Component::CurDir => {}
            other => components.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    let normalized: PathBuf = components.iter().collect();
    let relative = normalized.strip_prefix(rootdir).map_or_else(|_| path.to_string(), |r| r.to_string_lossy().replace('\\', "/"));
    let relative = relative.trim_start_matches('/').to_string();
    match rest {
        Some(rest) => format!("{relative}::{rest}"),
        None => relative,
    }
}

/// Whether a path argument selects a node id (a directory, a file, or a node-id prefix).
fn path_selects(arg: &str, id: &str) -> bool {
    if arg.is_empty() {
        return true;
    }
    if arg.contains("::") {
        return id == arg || id.starts_with(&format!("{arg}::")) || id.starts_with(&format!("{arg}["));
    }
    let file = id.split("::").next().unwrap_or(id);
    file == arg || file.starts_with(&format!("{}/", arg.trim_end_matches('/')))
}

fn read_json_list(ports: &SyncPorts<'_>, path: &Path) -> BTreeSet<String> {
    let Ok(text) = ports.fs.read_to_string(path) else { return BTreeSet::new() };
    text.lines()
        .filter_map(|line| {
            let line = line.trim().trim_end_matches(',');
            line.strip_prefix('"')?.strip_suffix('"').map(unescape)
        })
        .collect()
}

/// The recorded durations, and the file's text (empty when there is none) to
/// tell whether the merged durations change it.
fn read_durations(ports: &SyncPorts<'_>, path: &Path) -> (BTreeMap<String, f64>, String) {
    let Ok(text) = ports.fs.read_to_string(path) else { return (BTreeMap::new(), String::new()) };
    let durations = text
        .lines()
        .filter_map(|line| {
            let line = line.trim().trim_end_matches(',');
            let (key, value) = line.rsplit_once(':')?;
            let key = key.trim().strip_prefix('"')?.strip_suffix('"')?;
            let seconds: f64 = value.trim().parse().ok()?;
            Some((unescape(key), seconds.max(MIN_DURATION)))
        })
        .collect();
    (durations, text)
}

/// The least duration recorded for a test (seconds): a test that ran in well
/// under a millisecond still costs its worker something (the harness's work,
/// its share of the module's import), and a zero would make it weightless to
/// the scheduler and the shards (all of a fast suite's modules in one batch).
const MIN_DURATION: f64 = 0.001;

/// Writes the durations unless the file (`previous`, as read) already says the same.
fn write_durations(ports: &SyncPorts<'_>, path: &Path, durations: &BTreeMap<String, f64>, previous: &str) {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(previous.len().max(64));
    text.push_str("{\n");
    for (i, (id, seconds)) in durations.iter().enumerate() {
        if i > 0 {
            text.push_str(",\n");
        }
        let _ = write!(text, "  {}: {seconds:.3}", json_string(id));
    }
    text.push_str("\n}\n");
    if text != previous {
        let _ = ports.fs.write_atomic(path, text.as_bytes());
    }
}

fn json_string(text: &str) -> String {
    if !text.chars().any(|c| c == '"' || c == '\\' || (c as u32) < 0x20) {
        return format!("\"{text}\"");
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn unescape(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    text.replace("\\\"", "\"").replace("\\n", "\n").replace("\\\\", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules(files: &[(&str, &str)]) -> BTreeMap<String, ModuleTests> {
        files.iter().map(|(rel, source)| ((*rel).to_string(), pybun_testing::discover_module(rel, source, &TestConfig::default()))).collect()
    }

    #[test]
    fn pytest_batches_share_a_session_unless_splitting_pays() {
        let batch = |engine, ids: &[&str]| TestBatch { engine, ids: ids.iter().map(|s| (*s).to_string()).collect() };
        let durations: BTreeMap<String, f64> =
            [("a.py::t", 0.2), ("b.py::t", 0.15), ("n.py::t", 1.1), ("c.py::t", 2.0), ("d.py::t", 2.0)].iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
        let count = |work: Vec<TestBatch>| merge_pytest_batches(work, &durations, 2).iter().filter(|b| b.engine == TestEngine::Pytest).count();
        // Little pytest work next to much native work: one pytest session.
        let few = vec![batch(TestEngine::Pytest, &["a.py"]), batch(TestEngine::Pytest, &["b.py"]), batch(TestEngine::Native, &["n.py::t"])];
        assert_eq!(count(few), 1);
        // Long pytest work: a session per worker.
        let long = vec![batch(TestEngine::Pytest, &["c.py::t"]), batch(TestEngine::Pytest, &["d.py::t"])];
        assert_eq!(count(long), 2);
    }

    #[test]
    fn small_native_batches_travel_together() {
        let batch = |ids: &[&str]| TestBatch { engine: TestEngine::Native, ids: ids.iter().map(|s| (*s).to_string()).collect() };
        let durations: BTreeMap<String, f64> = [("big.py::t", 4.0)].iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
        let mut work = vec![batch(&["big.py::t"])];
        let small: Vec<String> = (0..100).map(|i| format!("m{i:03}.py::t")).collect();
        work.extend(small.iter().map(|id| batch(&[id.as_str()])));
        let merged = coalesce_native_batches(work, &durations, 2);
        assert_eq!(merged[0].ids, ["big.py::t"], "the long batch stays alone and first");
        // 5 s of native work, 2 workers: the first small group takes up to an
        // eighth of the 1 s left (12 tests of 10 ms), later ones less, the last ones one module.
        assert_eq!(merged[1].ids.len(), 12);
        assert!(merged.windows(2).skip(1).all(|pair| pair[0].ids.len() >= pair[1].ids.len()), "groups shrink");
        assert_eq!(merged.last().map(|b| b.ids.len()), Some(1));
        assert!(merged.len() > 10 && merged.len() < 60, "{}", merged.len());
        let all: Vec<String> = merged.iter().flat_map(|b| b.ids.clone()).collect();
        assert_eq!(all.len(), 101);
        assert_eq!(&all[1..], small.as_slice(), "order kept");
    }

    #[test]
    fn a_fast_suite_is_spread_over_the_workers() {
        // Tests recorded at the least duration (0.000 in earlier files is read as it).
        let batch = |ids: &[&str]| TestBatch { engine: TestEngine::Native, ids: ids.iter().map(|s| (*s).to_string()).collect() };
        let durations: BTreeMap<String, f64> = (0..40).map(|i| (format!("m{i:02}.py::t"), MIN_DURATION)).collect();
        let work: Vec<TestBatch> = durations.keys().map(|id| batch(&[id.as_str()])).collect();
        let merged = coalesce_native_batches(work, &durations, 2);
        assert!(merged.len() >= 8, "{}", merged.len());
        assert!(merged[0].ids.len() <= 5, "{}", merged[0].ids.len());
    }

    #[test]
    fn affected_files_follow_static_imports_and_conftests() {
        let mods = modules(&[
            ("tests/conftest.py", "from tests.fixtures_lib import thing\n"),
            ("tests/unit/test_a.py", "from . import helpers\n\ndef test_a():\n    pass\n"),
            ("tests/unit/test_b.py", "import pkg.core\n\ndef test_b():\n    from pkg import lazy\n"),
            ("tests/test_c.py", "def test_c():\n    pass\n"),
        ]);
        let tests: Vec<String> = ["tests/unit/test_a.py", "tests/unit/test_b.py", "tests/test_c.py"].iter().map(|s| (*s).to_string()).collect();
        let root = Path::new("/p");
        let check = |changed: &[&str], expected: Option<&[&str]>| {
            let changed: Vec<PathBuf> = changed.iter().map(|c| root.join(c)).collect();
            let got = affected_files(&changed, root, &tests, &mods);
            let expected = expected.map(|e| e.iter().map(|s| (*s).to_string()).collect::<BTreeSet<_>>());
            assert_eq!(got, expected, "{changed:?}");
        };
        check(&["tests/test_c.py"], Some(&["tests/test_c.py"]));
        check(&["tests/unit/helpers.py"], Some(&["tests/unit/test_a.py"]));
        check(&["src/pkg/core.py"], Some(&["tests/unit/test_b.py"]));
        check(&["src/pkg/lazy.py"], Some(&["tests/unit/test_b.py"]));
        check(&["src/pkg/__init__.py"], Some(&["tests/unit/test_b.py"]));
        check(&["tests/unit/conftest.py"], Some(&["tests/unit/test_a.py", "tests/unit/test_b.py"]));
        check(&["tests/fixtures_lib.py"], Some(&["tests/test_c.py", "tests/unit/test_a.py", "tests/unit/test_b.py"]));
        check(&["src/pkg/unused.py"], None);
        check(&["pyproject.toml"], None);
        check(&["tests/test_c.py", "tests/unit/helpers.py"], Some(&["tests/test_c.py", "tests/unit/test_a.py"]));
    }
}
