//! `GET|DELETE /apis/API/stages/STAGE/cache`: how full a stage's response
//! cache is, and flushing it (API Gateway's `FlushStageCache`).

use http::{Method, StatusCode};

use super::api::CacheView;
use super::{Answer, method_not_allowed, refuse, respond};
use crate::control::Gateway;

/// `API` and `STAGE` of `/apis/API/stages/STAGE/cache`.
pub fn parse(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/apis/")?.strip_suffix("/cache")?;
    let (api, stage) = rest.split_once("/stages/")?;
    (!api.is_empty() && !stage.is_empty() && !api.contains('/') && !stage.contains('/'))
        .then_some((api, stage))
}

/// Serves one call.
pub fn handle(gateway: &Gateway, method: &Method, api: &str, stage: &str) -> Answer {
    let Some(cache) = gateway.stage_cache(api, stage) else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("stage `{stage}` of API `{api}` has no cache (see [apis.stages.NAME.cache])"),
        );
    };
    let view = |flushed: Option<u64>| {
        let usage = cache.usage();
        CacheView {
            api: api.to_owned(),
            stage: stage.to_owned(),
            capacity_bytes: cache.settings.capacity,
            entries: usage.entries,
            bytes: usage.bytes,
            flushed,
        }
    };
    match *method {
        Method::GET => respond(StatusCode::OK, &view(None)),
        Method::DELETE => {
            let flushed = cache.flush();
            respond(StatusCode::OK, &view(Some(flushed)))
        }
        _ => method_not_allowed("GET, DELETE"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn paths() {
        assert_eq!(
            parse("/apis/pets/stages/prod/cache"),
            Some(("pets", "prod"))
        );
        assert_eq!(
            parse("/apis/pets/stages/$default/cache"),
            Some(("pets", "$default"))
        );
        assert_eq!(parse("/apis/pets/stages//cache"), None);
        assert_eq!(parse("/apis/pets/stages/a/b/cache"), None);
        assert_eq!(parse("/apis/pets/cache"), None);
    }
}
