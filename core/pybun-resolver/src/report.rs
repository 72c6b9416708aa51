//! Conflict explanations: PubGrub's derivation tree as sentences and as plain data.

use std::fmt::Write as _;
use std::ops::Bound;

use pubgrub::{DefaultStringReporter, DerivationTree, Derived, External, Map, ReportFormatter, Reporter, Term};
use pybun_pep::{Ranges, Version};

use crate::package::Node;
use crate::provider::{Provider, SkipReason};

/// A failed resolution, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictReport {
    /// Plain sentences ("Because a==1.0 depends on b>=2 and you require b<2, …").
    pub explanation: Vec<String>,
    /// The derivation tree as data.
    pub tree: ConflictNode,
    pub hints: Vec<String>,
}

/// One node of the derivation tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictNode {
    /// `package` at `range` depends on `dependency` at `dependency_range`
    /// (`package` is the project for the user's own requirements).
    Dependency { package: String, range: String, dependency: String, dependency_range: String },
    /// No version of `package` in `range` can be used.
    NoVersions { package: String, range: String },
    /// `package` at `range` cannot be used, for `reason`.
    Unavailable { package: String, range: String, reason: String },
    /// The root cannot be anything else.
    Root { package: String },
    /// A conclusion drawn from two causes: the listed terms are incompatible.
    Derived { conclusion: String, causes: Vec<ConflictNode> },
}

struct Formatter;

fn range_text(range: &Ranges<Version>) -> String {
    if *range == Ranges::full() {
        return String::new();
    }
    let mut parts = Vec::new();
    for (lower, upper) in range.iter() {
        let part = match (lower, upper) {
            (Bound::Included(a), Bound::Excluded(b))
                if *b == a.clone().with_post(Some(0)).with_dev(Some(0)) =>
            {
                format!("=={a}")
            }
            (Bound::Included(a), Bound::Included(b)) if a == b => format!("=={a}"),
            (Bound::Unbounded, Bound::Unbounded) => String::new(),
            (Bound::Included(a), Bound::Unbounded) => format!(">={a}"),
            (Bound::Excluded(a), Bound::Unbounded) => format!(">{a}"),
            (Bound::Unbounded, Bound::Excluded(b)) => format!("<{b}"),
            (Bound::Unbounded, Bound::Included(b)) => format!("<={b}"),
            (lower, upper) => {
                let low = match lower {
                    Bound::Included(a) => format!(">={a}"),
                    Bound::Excluded(a) => format!(">{a}"),
                    Bound::Unbounded => String::new(),
                };
                let high = match upper {
                    Bound::Included(b) => format!("<={b}"),
                    Bound::Excluded(b) => format!("<{b}"),
                    Bound::Unbounded => String::new(),
                };
                format!("{low},{high}")
            }
        };
        parts.push(part);
    }
    parts.join(" | ")
}

fn package_text(node: &Node, range: &Ranges<Version>) -> String {
    match node {
        Node::Python => format!("Python{}", range_text(range)),
        Node::Root(name) => name.clone(),
        other => {
            let range = range_text(range);
            if range.contains(" | ") { format!("{other} ({range})") } else { format!("{other}{range}") }
        }
    }
}

impl ReportFormatter<Node, Ranges<Version>, String> for Formatter {
    type Output = String;

    fn format_external(&self, external: &External<Node, Ranges<Version>, String>) -> String {
        match external {
            External::NotRoot(node, _) => format!("{node} is the project being locked"),
            External::NoVersions(Node::Python, range) => {
                format!("the Python version in use does not satisfy Python{}", range_text(range))
            }
            External::NoVersions(node, range) => {
                if *range == Ranges::full() {
                    format!("there is no usable version of {node}")
                } else {
                    format!("no usable version of {} exists", package_text(node, range))
                }
            }
            External::FromDependencyOf(Node::Root(_), _, Node::Python, dep_range) => {
                format!("your project requires Python{}", range_text(dep_range))
            }
            External::FromDependencyOf(Node::Root(_), _, dep, dep_range) => {
                format!("you require {}", package_text(dep, dep_range))
            }
            External::FromDependencyOf(node, range, Node::Python, dep_range) => {
                format!("{} requires Python{}", package_text(node, range), range_text(dep_range))
            }
            External::FromDependencyOf(node, range, dep, dep_range) => {
                format!("{} depends on {}", package_text(node, range), package_text(dep, dep_range))
            }
            External::Custom(node, range, reason) => {
                format!("{} cannot be used because {reason}", package_text(node, range))
            }
        }
    }

    fn format_terms(&self, terms: &Map<Node, Term<Ranges<Version>>>) -> String {
        let list: Vec<_> = terms.iter().collect();
        match list.as_slice() {
            [] => "your requirements are unsatisfiable".to_string(),
            [(Node::Root(_), _)] => "your requirements are unsatisfiable".to_string(),
            [(node, Term::Positive(range))] => format!("{} cannot be used", package_text(node, range)),
            [(node, Term::Negative(range))] => format!("{} is required", package_text(node, range)),
            [(p1, Term::Positive(r1)), (p2, Term::Negative(r2))] => self.format_external(
                &External::FromDependencyOf((*p1).clone(), r1.clone(), (*p2).clone(), r2.clone()),
            ),
            [(p1, Term::Negative(r1)), (p2, Term::Positive(r2))] => self.format_external(
                &External::FromDependencyOf((*p2).clone(), r2.clone(), (*p1).clone(), r1.clone()),
            ),
            slice => {
                let parts: Vec<String> = slice
                    .iter()
                    .map(|(node, term)| match term {
                        Term::Positive(range) => package_text(node, range),
                        Term::Negative(range) => format!("not {}", package_text(node, range)),
                    })
                    .collect();
                format!("{} are incompatible", parts.join(", "))
            }
        }
    }

    fn explain_both_external(
        &self,
        external1: &External<Node, Ranges<Version>, String>,
        external2: &External<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "Because {} and {}, {}.",
            self.format_external(external1),
            self.format_external(external2),
            self.format_terms(current_terms)
        )
    }

    fn explain_both_ref(
        &self,
        ref_id1: usize,
        derived1: &Derived<Node, Ranges<Version>, String>,
        ref_id2: usize,
        derived2: &Derived<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "Because {} ({ref_id1}) and {} ({ref_id2}), {}.",
            self.format_terms(&derived1.terms),
            self.format_terms(&derived2.terms),
            self.format_terms(current_terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        ref_id: usize,
        derived: &Derived<Node, Ranges<Version>, String>,
        external: &External<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "Because {} ({ref_id}) and {}, {}.",
            self.format_terms(&derived.terms),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_external(
        &self,
        external: &External<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!("And because {}, {}.", self.format_external(external), self.format_terms(current_terms))
    }

    fn and_explain_ref(
        &self,
        ref_id: usize,
        derived: &Derived<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "And because {} ({ref_id}), {}.",
            self.format_terms(&derived.terms),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_prior_and_external(
        &self,
        prior_external: &External<Node, Ranges<Version>, String>,
        external: &External<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior_external),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }
}

fn to_node(tree: &DerivationTree<Node, Ranges<Version>, String>) -> ConflictNode {
    match tree {
        DerivationTree::External(external) => match external {
            External::NotRoot(node, _) => ConflictNode::Root { package: node.to_string() },
            External::NoVersions(node, range) => {
                ConflictNode::NoVersions { package: node.to_string(), range: range_text(range) }
            }
            External::FromDependencyOf(node, range, dep, dep_range) => ConflictNode::Dependency {
                package: node.to_string(),
                range: range_text(range),
                dependency: dep.to_string(),
                dependency_range: range_text(dep_range),
            },
            External::Custom(node, range, reason) => ConflictNode::Unavailable {
                package: node.to_string(),
                range: range_text(range),
                reason: reason.clone(),
            },
        },
        DerivationTree::Derived(derived) => ConflictNode::Derived {
            conclusion: Formatter.format_terms(&derived.terms),
            causes: vec![to_node(&derived.cause1), to_node(&derived.cause2)],
        },
    }
}

pub(crate) fn build_report(tree: &DerivationTree<Node, Ranges<Version>, String>, provider: &Provider<'_>) -> ConflictReport {
    let text = DefaultStringReporter::report_with_formatter(tree, &Formatter);
    let explanation: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    let mut hints = Vec::new();
    let mut root_deps = Vec::new();
    let mut python_needed = Vec::new();
    crate::provider::visit_externals(tree, &mut |external| match external {
        External::FromDependencyOf(Node::Root(_), _, dep, range) if *dep != Node::Python => {
            root_deps.push(package_text(dep, range));
        }
        External::FromDependencyOf(node, range, Node::Python, dep_range) if !matches!(node, Node::Root(_)) => {
            python_needed.push((package_text(node, range), range_text(dep_range)));
        }
        _ => {}
    });
    let skipped = provider.skipped.borrow();
    for node in tree.packages() {
        let Some(name) = node.name() else { continue };
        let Some(reasons) = skipped.get(name) else { continue };
        let pre: Vec<String> = reasons.iter().filter(|(_, r)| *r == SkipReason::PreRelease).map(|(v, _)| v.to_string()).collect();
        let yanked: Vec<String> = reasons.iter().filter(|(_, r)| *r == SkipReason::Yanked).map(|(v, _)| v.to_string()).collect();
        if let Some(first) = pre.first() {
            hints.push(format!(
                "pre-releases of `{name}` were not considered (e.g. {first}); allow them with `--prerelease allow` or ask for one explicitly, e.g. `{name}>={first}`"
            ));
        }
        if let Some(first) = yanked.first() {
            hints.push(format!("`{name}` {first} was yanked; a yanked version is only used when pinned exactly, e.g. `{name}=={first}`"));
        }
    }
    if let Some((package, range)) = python_needed.first() {
        hints.push(format!(
            "{package} needs Python{range} but the project supports Python{} and up; raise `requires-python` or constrain {package}",
            if provider.python == Version::new([0]) { String::new() } else { format!(">={}", provider.python) }
        ));
    }
    if hints.is_empty()
        && let Some(requirement) = root_deps.first() {
            let mut hint = String::new();
            let _ = write!(hint, "loosen `{requirement}` in `pyproject.toml`, or check which of the requirements above you can relax");
            hints.push(hint);
        }
    ConflictReport { explanation, tree: to_node(tree), hints }
}
