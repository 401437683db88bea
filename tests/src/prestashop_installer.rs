//! PrestaShop's CLI installer (`install/index_cli.php`) as it reads its arguments, for the
//! tests of the PrestaShop engine: the arguments it knows and how it validates each (after
//! PrestaShop 8.2's `install/classes/datas.php`), and what its parser keeps of a value.
//!
//! The parser matches `--name=value` with `^--([^='"><|`]+)(?:=([^=><|`]+)…)`: a value is cut
//! at the first `=`, `<`, `>`, `|` or backquote without a word of complaint, and an unknown
//! name is ignored. Then each known argument's value goes through its `Validate` method, and
//! an invalid one prints `Field … is not valid` — after which `index_cli.php` exits 0 having
//! installed nothing. Both failures are silent, which is why the engine's setup checks for
//! the installer's result and these tests hold every argument to this contract.

/// `Validate::…` methods the installer applies (PrestaShop 8.2, `classes/Validate.php`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `isGenericName`: `/^[^<>={}]*$/u`.
    GenericName,
    /// `isLanguageIsoCode`: `/^[a-zA-Z]{2}(-[a-zA-Z]{2})?$/`.
    LanguageIsoCode,
    /// `isInt`: an optional sign and digits.
    Int,
    /// `isName`: no digits and none of `!<>,;?=+()@#"°{}_$%:¤|`.
    Name,
    /// `isEmail`: a local part, `@`, a dotted domain.
    Email,
    /// `isPasswd`: at least 5 characters (and fewer than 255).
    Passwd,
    /// Not validated.
    Any,
}

/// Every argument `index_cli.php` accepts, with its rule.
pub const ARGUMENTS: &[(&str, Rule)] = &[
    ("step", Rule::GenericName),
    ("language", Rule::LanguageIsoCode),
    ("all_languages", Rule::Int),
    ("timezone", Rule::Any),
    ("base_uri", Rule::Any),
    ("domain", Rule::GenericName),
    ("db_server", Rule::GenericName),
    ("db_user", Rule::GenericName),
    ("db_password", Rule::Any),
    ("db_name", Rule::GenericName),
    ("db_clear", Rule::Int),
    ("db_create", Rule::Int),
    ("prefix", Rule::GenericName),
    ("engine", Rule::Any),
    ("name", Rule::GenericName),
    ("activity", Rule::Int),
    ("country", Rule::LanguageIsoCode),
    ("firstname", Rule::Name),
    ("lastname", Rule::Name),
    ("password", Rule::Passwd),
    ("email", Rule::Email),
    ("license", Rule::Any),
    ("newsletter", Rule::Any),
    ("send_email", Rule::Any),
    ("theme", Rule::Any),
    ("ssl", Rule::Any),
    ("rewrite", Rule::Any),
    ("fixtures", Rule::Int),
];

fn holds(rule: Rule, value: &str) -> bool {
    let letters2 = |s: &str| s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic());
    match rule {
        Rule::GenericName => !value.contains(['<', '>', '=', '{', '}']),
        Rule::LanguageIsoCode => match value.split_once('-') {
            Some((a, b)) => letters2(a) && letters2(b),
            None => letters2(value),
        },
        Rule::Int => {
            let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        }
        Rule::Name => !value
            .chars()
            .any(|c| c.is_ascii_digit() || "!<>,;?=+()@#\"°{}_$%:¤|".contains(c)),
        Rule::Email => value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !value.contains(char::is_whitespace)
        }),
        Rule::Passwd => (5..255).contains(&value.chars().count()),
        Rule::Any => true,
    }
}

/// Why the installer would not take `--name=value` as given; empty when it would.
pub fn check(name: &str, value: &str) -> Vec<String> {
    let Some((_, rule)) = ARGUMENTS.iter().find(|(known, _)| *known == name) else {
        return vec![format!(
            "--{name} is not an argument of the installer (it is ignored)"
        )];
    };
    let mut problems = Vec::new();
    if value.is_empty() || value.contains(['=', '<', '>', '|', '`']) {
        problems.push(format!(
            "--{name}={value:?}: the installer keeps only the part before the first =, <, >, | or backquote"
        ));
    }
    if !holds(*rule, value) {
        problems.push(format!(
            "--{name}={value:?} fails the installer's {rule:?} check"
        ));
    }
    problems
}

/// Where an argument's value comes from in the install step's PHP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `'--name=' . $env('VAR')`: the container's environment variable `VAR`.
    Env(String),
    /// `'--name=value'`.
    Fixed(String),
}

/// The `(name, source)` of every argument the install step's PHP program passes: each
/// `'--name=…'` string literal, followed by `. $env('VAR')` or closed with its value.
pub fn arguments_of(php: &str) -> Vec<(String, Source)> {
    let mut found = Vec::new();
    let mut rest = php;
    while let Some(start) = rest.find("'--") {
        rest = &rest[start + 3..];
        let Some(end) = rest.find('\'') else { break };
        let literal = &rest[..end];
        rest = &rest[end + 1..];
        let Some((name, value)) = literal.split_once('=') else {
            continue;
        };
        let source = if value.is_empty() {
            let var = rest
                .trim_start()
                .strip_prefix(". $env('")
                .and_then(|r| r.split_once('\''))
                .map(|(var, _)| var.to_owned());
            match var {
                Some(var) => Source::Env(var),
                None => Source::Fixed(String::new()),
            }
        } else {
            Source::Fixed(value.to_owned())
        };
        found.push((name.to_owned(), source));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_catches_what_the_installer_drops() {
        assert!(check("name", "Chai & Co's").is_empty());
        assert_eq!(
            check("name", "a=b").len(),
            2,
            "cut at = and fails isGenericName"
        );
        assert_eq!(check("name", "a|b").len(), 1, "cut at |");
        assert!(!check("shop_name", "x").is_empty(), "unknown argument");
        assert!(!check("country", "usa").is_empty());
        assert!(check("country", "us").is_empty());
        assert!(!check("fixtures", "yes").is_empty());
        assert!(!check("firstname", "R2D2").is_empty());
        assert!(!check("password", "abc").is_empty());
    }

    #[test]
    fn arguments_are_read_from_the_php_as_written() {
        let php =
            "$argv = ['index_cli.php',\n  '--domain=' . $env('PS_DOMAIN'),\n  '--prefix=ps_',\n];";
        assert_eq!(
            arguments_of(php),
            [
                ("domain".to_owned(), Source::Env("PS_DOMAIN".into())),
                ("prefix".to_owned(), Source::Fixed("ps_".into())),
            ]
        );
    }
}
