//! Post-install steps, run by the host with exec in the PrestaShop container.
//!
//! Every step is idempotent (it checks before it changes) and fails on the first failing
//! command. No value reaches a command line: the steps are the same for every store, and the
//! PHP they run reads the passwords (from the credentials Secret) and the tenant's text (the
//! shop name) from the container's environment, which the chart sets. PrestaShop's CLI
//! installer only takes its settings as `--key=value` arguments, so it is run inside a PHP
//! process that builds its argument list from the environment: the passwords are never in
//! any process's arguments, as they would be with the image's own auto-install.

use storeplane_sdk::{SetupStep, ShellScript, Step, StoreSpec, shell_quote};

use crate::values::PRESTASHOP;

/// The document root, on the store's volume.
const DOCROOT: &str = "/var/www/html";
/// Written once the installer has finished; its absence means "install (again)".
const INSTALLED_MARKER: &str = ".storeplane-installed";

/// Every argument of PrestaShop's CLI installer (`install/index_cli.php`) the install step
/// passes, with the variable of the container's environment its value comes from, or a fixed
/// value. Kept as data so a test can hold each name to the installer's own list.
pub const INSTALLER_ARGUMENTS: &[(&str, InstallerValue)] = &[
    ("domain", InstallerValue::Env("PS_DOMAIN")),
    ("db_server", InstallerValue::Env("DB_SERVER")),
    ("db_name", InstallerValue::Env("DB_NAME")),
    ("db_user", InstallerValue::Env("DB_USER")),
    ("db_password", InstallerValue::Env("DB_PASSWD")),
    // MariaDB's entrypoint created the database; the installer only creates the tables.
    ("db_create", InstallerValue::Fixed("0")),
    ("prefix", InstallerValue::Fixed("ps_")),
    // The installer refuses `<`, `>`, `=`, `{` and `}` in a shop name and cuts it at `|` or
    // a backquote: the tenant's name is set afterwards (configure-shop), whatever it holds.
    ("name", InstallerValue::Fixed("PrestaShop")),
    ("language", InstallerValue::Env("PS_LANGUAGE")),
    ("country", InstallerValue::Env("PS_COUNTRY")),
    ("firstname", InstallerValue::Fixed("Store")),
    ("lastname", InstallerValue::Fixed("Owner")),
    ("email", InstallerValue::Env("ADMIN_MAIL")),
    ("password", InstallerValue::Env("ADMIN_PASSWD")),
    ("fixtures", InstallerValue::Env("PS_FIXTURES")),
    ("ssl", InstallerValue::Env("PS_ENABLE_SSL")),
    ("newsletter", InstallerValue::Fixed("0")),
    ("send_email", InstallerValue::Fixed("0")),
];

/// Where one installer argument's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallerValue {
    /// A variable of the container's environment (set by the chart).
    Env(&'static str),
    /// The same for every store.
    Fixed(&'static str),
}

/// The PHP program that runs the installer with [`INSTALLER_ARGUMENTS`]: `index_cli.php`
/// reads the global `$argv`, which this sets before loading it.
fn installer_php() -> String {
    let mut php = String::from(
        "$env = function ($name) { $value = getenv($name); \
         if ($value === false || $value === '') { fwrite(STDERR, \"$name is not set in the container\\n\"); exit(2); } \
         return $value; };\n$argv = ['index_cli.php',\n",
    );
    for (name, value) in INSTALLER_ARGUMENTS {
        match value {
            InstallerValue::Env(var) => php.push_str(&format!("  '--{name}=' . $env('{var}'),\n")),
            InstallerValue::Fixed(fixed) => php.push_str(&format!("  '--{name}={fixed}',\n")),
        }
    }
    php.push_str(
        "];\n$argc = count($argv);\n$_SERVER['argv'] = $argv;\n$_SERVER['argc'] = $argc;\n\
         require 'index_cli.php';\n",
    );
    php
}

/// The PHP program of configure-shop: the shop's name, e-mail and default currency, from the
/// container's environment. A currency the country's localization pack did not bring is
/// added by PrestaShop's own localization import (its `currencies` part alone).
const CONFIGURE_PHP: &str = r#"require 'config/config.inc.php';
// Adding a currency goes through the back office's command bus, which needs the Symfony
// kernel a back-office request boots (AdminKernel from PrestaShop 9, AppKernel before).
global $kernel;
if (!$kernel) { $class = class_exists('AdminKernel') ? 'AdminKernel' : 'AppKernel'; $kernel = new $class(_PS_ENV_, _PS_MODE_DEV_); $kernel->boot(); }
$fail = function ($message) { fwrite(STDERR, $message . "\n"); exit(1); };
$name = getenv('STORE_SHOP_NAME');
$email = getenv('ADMIN_MAIL');
$iso = getenv('STORE_CURRENCY');
if ($name === false || $name === '' || $email === false || $iso === false) { $fail('STORE_SHOP_NAME, ADMIN_MAIL or STORE_CURRENCY is not set in the container'); }
if (!preg_match('/^[A-Z]{3}$/', $iso)) { $fail("STORE_CURRENCY is not an ISO 4217 code: $iso"); }
if (!Currency::exists($iso)) {
  $pack = new LocalizationPack();
  $xml = '<?xml version="1.0"?><localizationPack name="storeplane" version="1.0"><currencies><currency iso_code="' . $iso . '"/></currencies></localizationPack>';
  if (!$pack->loadLocalisationPack($xml, ['currencies'])) { $fail("adding the currency $iso failed: " . implode('; ', array_filter((array) $pack->getErrors()))); }
}
Cache::clean('Currency::getIdByIsoCode_*');
$currency = (int) Currency::getIdByIsoCode($iso);
if ($currency === 0) { $fail("the currency $iso is not installed"); }
if (!Configuration::updateValue('PS_CURRENCY_DEFAULT', $currency)) { $fail('setting the default currency failed'); }
if (!Configuration::updateValue('PS_SHOP_NAME', $name)) { $fail('setting the shop name failed'); }
if (!Configuration::updateValue('PS_SHOP_EMAIL', $email)) { $fail('setting the shop e-mail failed'); }
echo "Shop name, e-mail and default currency ($iso) set\n";
"#;

/// One step in the PrestaShop container of the store's pod.
fn step(
    spec: &StoreSpec,
    name: &str,
    description: &str,
    script: ShellScript,
    timeout: u32,
    attempts: u32,
) -> SetupStep {
    let selector = [
        ("app.kubernetes.io/name", PRESTASHOP),
        ("app.kubernetes.io/instance", spec.store_id.as_str()),
    ];
    Step::new(name, description)
        .in_container(&selector, PRESTASHOP)
        .script(script)
        .timeout_seconds(timeout)
        .attempts(attempts)
        .build()
}

/// `php -r PROGRAM` as www-data (who owns the document root), the way the image runs its own
/// installer; the environment, with the secrets, passes through `runuser`.
fn php_as_www_data(program: &str) -> String {
    format!(
        "runuser -u www-data -- php -d memory_limit=-1 -r {}",
        shell_quote(program)
    )
}

pub fn steps(spec: &StoreSpec) -> Vec<SetupStep> {
    vec![
        step(
            spec,
            "install-prestashop",
            "Install PrestaShop with its CLI installer (database, language, country, demo catalog, administrator)",
            ShellScript::new()
                .line(format!("cd {DOCROOT}"))
                .line(format!(
                    "if [ -f {INSTALLED_MARKER} ]; then echo 'PrestaShop is already installed'; exit 0; fi"
                ))
                .line(
                    "[ -f install/index_cli.php ] || { echo 'install/index_cli.php is missing: \
                     the image did not copy PrestaShop into the volume' >&2; exit 1; }",
                )
                // A previous attempt that stopped midway left a configuration behind: start
                // over (the installer drops the tables it finds).
                .line("rm -f app/config/parameters.php")
                .line(format!("cd install && {}", php_as_www_data(&installer_php())))
                // The installer exits 0 after printing an argument error: check its result.
                .line(format!(
                    "[ -f {DOCROOT}/app/config/parameters.php ] || {{ echo 'the installer finished \
                     without writing app/config/parameters.php' >&2; exit 1; }}"
                ))
                .line(format!("touch {DOCROOT}/{INSTALLED_MARKER}")),
            900,
            2,
        ),
        step(
            spec,
            "secure-back-office",
            "Remove the installer and check the back office's renamed folder (PrestaShop refuses back-office logins until both are done)",
            ShellScript::new()
                .line(format!("rm -rf {DOCROOT}/install"))
                .line(format!(
                    "[ -d \"{DOCROOT}/$PS_FOLDER_ADMIN\" ] || {{ echo \"the back office folder $PS_FOLDER_ADMIN \
                     is missing\" >&2; exit 1; }}"
                )),
            60,
            3,
        ),
        step(
            spec,
            "configure-shop",
            "Set the shop's name, e-mail and default currency",
            ShellScript::new()
                .line(format!("cd {DOCROOT}"))
                .line(php_as_www_data(CONFIGURE_PHP)),
            300,
            3,
        ),
    ]
}

/// What brings a store from an older version of this engine to this one: PrestaShop keeps a
/// compiled Symfony container and Smarty templates under `var/cache`, which a new engine
/// version's settings (environment, image) outdate. Clearing it is always safe.
pub fn upgrade_steps(spec: &StoreSpec) -> Vec<SetupStep> {
    vec![step(
        spec,
        "clear-cache",
        "Clear PrestaShop's compiled caches (var/cache), rebuilt on the next request",
        ShellScript::new().line(format!(
            "if [ -d {DOCROOT}/var/cache ]; then find {DOCROOT}/var/cache -mindepth 1 -maxdepth 1 -exec rm -rf {{}} +; fi"
        )),
        120,
        3,
    )]
}
