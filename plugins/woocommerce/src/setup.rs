//! Post-install steps, run by the host with exec in the WP-CLI sidecar.
//!
//! Every step is idempotent (it checks before it changes) and fails on the first failing
//! command: nothing is swallowed with `|| echo`. Secrets never appear in a command: the admin
//! password is read from the container environment and handed to WP-CLI on stdin
//! (`--prompt=admin_password`), so it is not in any process's arguments either.

use storeplane_sdk::{SetupStep, ShellScript, Step, StoreSpec, base_url, shell_quote};

use crate::options::Options;
use crate::{ADMIN_USER, STOREFRONT_VERSION, WOOCOMMERCE_VERSION, WPCLI_CONTAINER};

/// Name of the env var (in the wp-cli container) holding the admin password.
const ADMIN_PASSWORD_ENV: &str = "WP_ADMIN_PASSWORD";

/// One step in the WP-CLI sidecar of the store's WordPress pod, tried three times.
fn wp_step(
    spec: &StoreSpec,
    name: &str,
    description: &str,
    script: ShellScript,
    timeout: u32,
) -> SetupStep {
    let selector = [
        ("app.kubernetes.io/name", "wordpress"),
        ("app.kubernetes.io/instance", spec.store_id.as_str()),
    ];
    Step::new(name, description)
        .in_container(&selector, WPCLI_CONTAINER)
        .script(script)
        .timeout_seconds(timeout)
        .attempts(3)
        .build()
}

/// What brings a store from an older version of this engine to this one, whatever it was:
/// the WooCommerce version this one pins (a newer plugin brings newer pins), then WordPress's
/// and WooCommerce's own database updates. Each is a no-op when there is nothing to do.
pub fn upgrade_steps(spec: &StoreSpec) -> Vec<SetupStep> {
    vec![
        wp_step(
            spec,
            "pin-woocommerce",
            "Install the WooCommerce version this engine version pins, if another is installed",
            ShellScript::new().line(format!(
                "[ \"$(wp plugin get woocommerce --field=version)\" = {WOOCOMMERCE_VERSION} ] \
                 || wp plugin install woocommerce --version={WOOCOMMERCE_VERSION} --force"
            )),
            300,
        ),
        wp_step(
            spec,
            "update-wordpress-database",
            "Run WordPress's database updates (wp core update-db)",
            ShellScript::new().line("wp core update-db"),
            300,
        ),
        wp_step(
            spec,
            "update-woocommerce-database",
            "Run WooCommerce's database updates (wp wc update)",
            ShellScript::new().line("if wp plugin is-active woocommerce; then wp wc update; fi"),
            600,
        ),
    ]
}

pub fn steps(spec: &StoreSpec, options: &Options) -> Vec<SetupStep> {
    let step = |name: &str, description: &str, script: ShellScript, timeout: u32| {
        wp_step(spec, name, description, script, timeout)
    };
    let url = shell_quote(&base_url(spec));
    let title = shell_quote(&options.store_title);
    let email = shell_quote(&spec.owner_email);

    let mut steps = vec![
        step(
            "install-wordpress",
            "Install WordPress and create the administrator",
            ShellScript::new()
                .line("if wp core is-installed; then echo 'WordPress is already installed'; exit 0; fi")
                .line(format!(
                    "printf '%s\\n' \"${ADMIN_PASSWORD_ENV}\" | wp core install --url={url} \
                     --title={title} --admin_user={ADMIN_USER} --admin_email={email} \
                     --skip-email --prompt=admin_password"
                )),
            180,
        ),
        step(
            "install-woocommerce",
            "Install and activate the WooCommerce plugin (a pinned version)",
            ShellScript::new()
                .line(format!(
                    "wp plugin is-installed woocommerce || wp plugin install woocommerce --version={WOOCOMMERCE_VERSION}"
                ))
                .line("wp plugin is-active woocommerce || wp plugin activate woocommerce"),
            300,
        ),
        step(
            "install-storefront",
            "Install and activate the Storefront theme (a pinned version)",
            ShellScript::new()
                .line(format!(
                    "wp theme is-installed storefront || wp theme install storefront --version={STOREFRONT_VERSION}"
                ))
                .line("wp theme is-active storefront || wp theme activate storefront"),
            180,
        ),
        step(
            "configure-store",
            "Set the store's title, address, country and currency and open it to visitors",
            ShellScript::new()
                // Tenant text reaches WP-CLI on stdin (`wp option update <key>` reads the
                // value there when none is given), never as an argument: a title such as
                // `--require=/tmp/x.php` would otherwise be taken as an option.
                .line(format!("printf '%s' {title} | wp option update blogname"))
                .line(format!("printf '%s' {} | wp option update woocommerce_store_address", shell_quote(&options.address)))
                .line(format!("printf '%s' {} | wp option update woocommerce_store_city", shell_quote(&options.city)))
                .line(format!("printf '%s' {} | wp option update woocommerce_store_postcode", shell_quote(&options.postcode)))
                .line(format!("wp option update woocommerce_default_country {}", shell_quote(&options.country)))
                .line(format!("wp option update woocommerce_currency {}", shell_quote(&options.currency)))
                .line("wp option update woocommerce_coming_soon no")
                .line("wp option update woocommerce_onboarding_profile '{\"skipped\":true}' --format=json"),
            120,
        ),
        step(
            "create-pages",
            "Create the WooCommerce pages (shop, cart, checkout, my account)",
            ShellScript::new().line(format!("wp wc tool run install_pages --user={ADMIN_USER}")),
            120,
        ),
        step(
            "set-permalinks",
            "Use /%postname%/ permalinks",
            ShellScript::new().line("wp rewrite structure '/%postname%/' --hard"),
            60,
        ),
    ];
    if options.sample_data {
        steps.push(step(
            "create-sample-product",
            "Create a sample product",
            ShellScript::new()
                .line(
                    "if [ -n \"$(wp post list --post_type=product --name=sample-product --format=ids)\" ]; \
                     then echo 'Sample product exists'; exit 0; fi",
                )
                .line(format!(
                    "wp wc product create --user={ADMIN_USER} --name='Sample product' --slug=sample-product \
                     --type=simple --regular_price=19.99 --status=publish \
                     --short_description='A product to try the checkout with.'"
                )),
            120,
        ));
    }
    steps
}
