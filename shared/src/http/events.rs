//! Device events of our own client.

use super::auth::load_app;
use super::error::ApiError;
use super::error::Json;
use super::state::EventState;
use super::view::check_device_id;
use crate::domain::AppId;
use crate::domain::ChannelName;
use crate::model::now;
use crate::model::Event;
use crate::wire::DeviceEvent;
use crate::wire::ErrorBody;
use crate::wire::Status;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

#[utoipa::path(post, path = "/v1/apps/{app}/events", params(("app" = AppId, Path, description = "The app id")), request_body = DeviceEvent,
    responses((status = 202, body = Status), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn event(
    State(s): State<EventState>,
    Path(app): Path<String>,
    Json(req): Json<DeviceEvent>,
) -> Result<impl IntoResponse, ApiError> {
    check_device_id(&req.device_id)?;
    if let Some(c) = &req.channel {
        ChannelName::new(c.as_str())?;
    }
    let app = load_app(&*s.records, &app).await?;
    if s.records.build(&app.app_id, req.build_id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "app {} has no build {}",
            app.app_id, req.build_id
        )));
    }
    s.events
        .record_events(&[Event {
            app_id: app.app_id,
            build_id: req.build_id,
            device_id: req.device_id,
            channel: req.channel.unwrap_or(app.default_channel),
            kind: req.event,
            at: now(),
        }])
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Status {
            status: "accepted".into(),
        }),
    ))
}
