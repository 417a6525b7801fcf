//! The plugin's settings from the gateway configuration
//! (`[plugins.NAME.config]`). Outside the gateway, tests set them with
//! [`testing::set_config`](crate::testing::set_config).

/// One setting.
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_family = "wasm")]
    return crate::authorizer_bindings::turnpike::gateway::config::get(key);
    #[cfg(not(target_family = "wasm"))]
    return crate::testing::config_get(key);
}

/// Every setting.
pub fn get_all() -> Vec<crate::Entry> {
    #[cfg(target_family = "wasm")]
    return crate::authorizer_bindings::turnpike::gateway::config::get_all();
    #[cfg(not(target_family = "wasm"))]
    return crate::testing::config_all();
}

/// A setting that holds a list separated by commas, trimmed, empty items dropped.
pub fn get_list(key: &str) -> Vec<String> {
    get(key)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
