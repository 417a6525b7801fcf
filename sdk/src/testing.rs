//! Stand-ins for host calls when plugin code runs natively under `cargo test`.

use std::cell::RefCell;

thread_local! {
    static CONFIG: RefCell<Vec<crate::Entry>> = const { RefCell::new(Vec::new()) };
}

/// Sets the settings [`config::get`](crate::config::get) returns on this thread.
pub fn set_config(entries: &[(&str, &str)]) {
    CONFIG.with(|c| {
        *c.borrow_mut() = entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    });
}

pub(crate) fn config_get(key: &str) -> Option<String> {
    CONFIG.with(|c| crate::find(&c.borrow(), key, false).map(str::to_owned))
}

pub(crate) fn config_all() -> Vec<crate::Entry> {
    CONFIG.with(|c| c.borrow().clone())
}

/// A request with the given headers, for tests.
pub fn request_info(method: &str, path: &str, headers: &[(&str, &str)]) -> crate::RequestInfo {
    crate::RequestInfo {
        request_id: "test-request".into(),
        method: method.into(),
        path: path.into(),
        route_key: format!("{method} {path}"),
        stage: "$default".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect(),
        query: Vec::new(),
        path_parameters: Vec::new(),
        stage_variables: Vec::new(),
        source_ip: "127.0.0.1".into(),
    }
}
