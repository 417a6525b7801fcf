//! `GET /cluster`: every live node of the fleet (by heartbeat), the change
//! each applied and what it serves, lagging and failing nodes marked.
//! When Redis cannot be asked, the answer still holds this node.

use http::StatusCode;

use super::api::{ClusterView, NodeView, RedisHealth};
use super::{Answer, refuse, respond};
use crate::control::Control;
use crate::control::cluster::NodeStatus;
use crate::control::cluster::follow::status;

/// Answers `GET /cluster`.
pub(super) async fn handle(control: &Control) -> Answer {
    let Some(cluster) = control.cluster() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "this gateway is not in cluster mode (no [cluster] in its configuration)",
        );
    };
    let this = status(cluster);
    let shared = cluster.shared().clone();
    let asked = shared
        .runtime()
        .spawn({
            let shared = shared.clone();
            async move {
                let head = shared.head().await?;
                let nodes = shared.nodes().await?;
                Ok::<_, crate::control::cluster::redis::ClusterError>((head, nodes))
            }
        })
        .await;
    let (head, statuses, redis) = match asked {
        Ok(Ok((head, texts))) => {
            let statuses: Vec<NodeStatus> = texts
                .iter()
                .filter_map(|t| serde_json::from_str(t).ok())
                .collect();
            let health = RedisHealth {
                reachable: true,
                error: None,
            };
            (Some(head), statuses, health)
        }
        Ok(Err(error)) => (None, Vec::new(), unreachable(error.to_string())),
        Err(error) => (None, Vec::new(), unreachable(error.to_string())),
    };
    let others: Vec<NodeStatus> = statuses
        .into_iter()
        .filter(|s| s.node != this.node)
        .collect();
    let mut nodes: Vec<NodeView> = others
        .into_iter()
        .chain(std::iter::once(this))
        .map(|status| NodeView {
            lagging: head.is_some_and(|h| status.applied < h),
            failing: status.failure.is_some(),
            status,
        })
        .collect();
    nodes.sort_by(|a, b| a.status.node.cmp(&b.status.node));
    respond(
        StatusCode::OK,
        &ClusterView {
            cluster: cluster.settings().name.clone(),
            node: cluster.node_id().to_owned(),
            head,
            redis,
            nodes,
        },
    )
}

fn unreachable(error: String) -> RedisHealth {
    RedisHealth {
        reachable: false,
        error: Some(error),
    }
}
