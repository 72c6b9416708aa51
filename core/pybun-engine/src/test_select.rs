//! Selecting and distributing tests: pytest's `-k` and `-m` expressions,
//! deterministic duration-balanced shards, and worker batches.

use std::collections::BTreeMap;

/// A parsed `-k` / `-m` expression: identifiers combined with `and`, `or`,
/// `not` and parentheses (pytest's grammar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Ident(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// Parse an expression; the error names the column (1-based) and what was expected.
///
/// # Errors
/// A syntax error.
pub fn parse_expr(text: &str) -> Result<Expr, String> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("empty expression".into());
    }
    let mut parser = Parser { tokens, pos: 0 };
    let expr = parser.or()?;
    if let Some((token, column)) = parser.tokens.get(parser.pos) {
        return Err(format!("column {column}: unexpected `{}`", token.text()));
    }
    Ok(expr)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    And,
    Or,
    Not,
    Open,
    Close,
}

impl Token {
    fn text(&self) -> String {
        match self {
            Self::Ident(s) => s.clone(),
            Self::And => "and".into(),
            Self::Or => "or".into(),
            Self::Not => "not".into(),
            Self::Open => "(".into(),
            Self::Close => ")".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            tokens.push((Token::Open, i + 1));
            i += 1;
        } else if c == ')' {
            tokens.push((Token::Close, i + 1));
            i += 1;
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '(' && chars[i] != ')' {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let token = match word.as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => Token::Not,
                _ => {
                    if !word.chars().all(|c| c.is_alphanumeric() || "_:+-.[]\\/".contains(c)) {
                        return Err(format!("column {}: unexpected character in `{word}`", start + 1));
                    }
                    Token::Ident(word)
                }
            };
            tokens.push((token, start + 1));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.not()?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some((token, column)) = self.tokens.get(self.pos).cloned() else {
            return Err("unexpected end of expression".into());
        };
        self.pos += 1;
        match token {
            Token::Ident(name) => Ok(Expr::Ident(name)),
            Token::Open => {
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(format!("column {column}: `(` is not closed"));
                }
                self.pos += 1;
                Ok(inner)
            }
            other => Err(format!("column {column}: expected a name, found `{}`", other.text())),
        }
    }
}

impl Expr {
    /// Evaluate with `matches(identifier)`.
    pub fn eval(&self, matches: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Self::Ident(name) => matches(name),
            Self::Not(inner) => !inner.eval(matches),
            Self::And(a, b) => a.eval(matches) && b.eval(matches),
            Self::Or(a, b) => a.eval(matches) || b.eval(matches),
        }
    }
}

/// pytest's `-k`: an identifier matches when it is a case-insensitive
/// substring of one of the item's names (the test name with its parameter
/// id, its class names, its module file name, its package directories) or
/// equals one of its marks.
#[must_use]
pub fn keyword_matches(expr: &Expr, node_id: &str, marks: &[String]) -> bool {
    let mut names: Vec<String> = Vec::new();
    let mut parts = node_id.split("::");
    if let Some(path) = parts.next() {
        for component in path.split('/') {
            names.push(component.to_lowercase());
        }
    }
    for part in parts {
        names.push(part.to_lowercase());
    }
    expr.eval(&|ident: &str| {
        let ident = ident.to_lowercase();
        names.iter().any(|n| n.contains(&ident)) || marks.iter().any(|m| m.to_lowercase() == ident)
    })
}

/// pytest's `-m`: identifiers are mark names, matched exactly.
#[must_use]
pub fn marker_matches(expr: &Expr, marks: &[String]) -> bool {
    expr.eval(&|ident: &str| marks.iter().any(|m| m == ident))
}

/// The default duration of a test never timed.
pub const DEFAULT_DURATION: f64 = 0.01;

/// Split `ids` into `count` shards, balanced by `durations` (seconds; unknown
/// tests count [`DEFAULT_DURATION`]): longest first, each to the shard with the
/// least total so far (lowest index on ties). Deterministic for the same inputs;
/// every test lands in exactly one shard. Returns shard `index` (0-based), in
/// the input order.
#[must_use]
pub fn shard(ids: &[String], durations: &BTreeMap<String, f64>, index: usize, count: usize) -> Vec<String> {
    if count <= 1 {
        return ids.to_vec();
    }
    let mut order: Vec<(usize, f64)> =
        ids.iter().enumerate().map(|(i, id)| (i, durations.get(id).copied().unwrap_or(DEFAULT_DURATION))).collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(ids[a.0].cmp(&ids[b.0])));
    let mut totals = vec![0.0_f64; count];
    let mut owner = vec![0_usize; ids.len()];
    for (i, duration) in order {
        let (best, _) = totals
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
            .expect("count > 1");
        totals[best] += duration;
        owner[i] = best;
    }
    ids.iter().zip(owner).filter(|(_, o)| *o == index).map(|(id, _)| id.clone()).collect()
}

/// Group tests into worker batches: tests of one module stay together (their
/// module and session fixtures are set up once per worker), batches ordered
/// longest first so the slowest work starts early.
#[must_use]
pub fn batches(ids: &[String], durations: &BTreeMap<String, f64>) -> Vec<Vec<String>> {
    let mut by_module: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for id in ids {
        let module = id.split("::").next().unwrap_or(id);
        by_module.entry(module).or_default().push(id.clone());
    }
    let mut batches: Vec<(f64, Vec<String>)> = by_module
        .into_values()
        .map(|ids| {
            let total = ids.iter().map(|id| durations.get(id).copied().unwrap_or(DEFAULT_DURATION)).sum();
            (total, ids)
        })
        .collect();
    batches.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    batches.into_iter().map(|(_, ids)| ids).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions() {
        let cases = [
            ("login", "tests/test_auth.py::test_login_ok", vec![], true),
            ("LOGIN", "tests/test_auth.py::test_login_ok", vec![], true),
            ("not login", "tests/test_auth.py::test_login_ok", vec![], false),
            ("auth and not slow", "tests/test_auth.py::test_x", vec!["slow".to_string()], false),
            ("auth and (x or y)", "tests/test_auth.py::TestX::test_y", vec![], true),
            ("test_auth.py", "tests/test_auth.py::test_x", vec![], true),
            ("1-2", "t.py::test_p[1-2]", vec![], true),
        ];
        for (expr, id, marks, expected) in cases {
            let parsed = parse_expr(expr).unwrap();
            assert_eq!(keyword_matches(&parsed, id, &marks), expected, "{expr} on {id}");
        }
        let m = parse_expr("slow and not network").unwrap();
        assert!(marker_matches(&m, &["slow".into()]));
        assert!(!marker_matches(&m, &["slow".into(), "network".into()]));
        assert!(!marker_matches(&m, &["slower".into()]));
        assert!(parse_expr("a and").is_err());
        assert!(parse_expr("(a or b").is_err());
        assert!(parse_expr("").is_err());
        assert!(parse_expr("a b").unwrap_err().contains("column 3"));
    }

    #[test]
    fn shards_cover_every_test_once_and_balance() {
        let ids: Vec<String> = (0..20).map(|i| format!("t.py::test_{i:02}")).collect();
        let mut durations = BTreeMap::new();
        durations.insert("t.py::test_00".to_string(), 5.0);
        durations.insert("t.py::test_01".to_string(), 3.0);
        durations.insert("t.py::test_02".to_string(), 2.0);
        let shards: Vec<Vec<String>> = (0..3).map(|i| shard(&ids, &durations, i, 3)).collect();
        let mut all: Vec<String> = shards.iter().flatten().cloned().collect();
        all.sort();
        assert_eq!(all, ids, "every test exactly once");
        let totals: Vec<f64> =
            shards.iter().map(|s| s.iter().map(|id| durations.get(id).copied().unwrap_or(DEFAULT_DURATION)).sum()).collect();
        assert!(totals.iter().all(|t| *t <= 5.0 + 1e-9), "{totals:?}");
        assert_eq!(shards, (0..3).map(|i| shard(&ids, &durations, i, 3)).collect::<Vec<_>>(), "deterministic");
    }

    #[test]
    fn batches_keep_modules_together_longest_first() {
        let ids: Vec<String> = ["a.py::t1", "b.py::t1", "a.py::t2", "c.py::t1"].iter().map(|s| (*s).to_string()).collect();
        let durations: BTreeMap<String, f64> = [("c.py::t1".to_string(), 9.0)].into_iter().collect();
        let b = batches(&ids, &durations);
        assert_eq!(b[0], vec!["c.py::t1".to_string()]);
        assert!(b.contains(&vec!["a.py::t1".to_string(), "a.py::t2".to_string()]));
    }
}
