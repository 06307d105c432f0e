//! Each log as a C2SP tiled log (<https://c2sp.org/tlog-tiles>), read-only, computed from the
//! store: `/logs/{log_id}/checkpoint` and `/logs/{log_id}/tile/<L>/<N>[.p/<W>]`,
//! `/logs/{log_id}/tile/entries/<N>[.p/<W>]`, the same paths `warden audit export-tiles`
//! writes. Only what the log's latest checkpoint covers is served. The checkpoint may change
//! (cached a few seconds at most); tiles and bundles never do (cached for a year).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use warden_audit::tile_read::{self, TileReadError};
use warden_audit::tiles::TilePath;

use crate::{ApiError, ApiState};

const NO_LOG: &str = "no such log, or it has no signed checkpoint yet";

/// A log id as the store writes them (a lowercase hyphenated UUID), else `None`: nothing
/// else reaches the store.
fn log_id(raw: &str) -> Option<String> {
    let shaped = raw.len() == 36
        && raw.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    shaped.then(|| raw.to_owned())
}

fn body(bytes: Vec<u8>, content_type: &'static str, cache: &'static str) -> Response {
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

pub(crate) async fn checkpoint(
    State(state): State<ApiState>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = p
        .ok()
        .and_then(|Path(id)| log_id(&id))
        .ok_or_else(|| ApiError::not_found(NO_LOG))?;
    let note = state
        .read(move |s| Ok(tile_read::latest_checkpoint(s, &id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(NO_LOG))?;
    Ok(body(
        note.1.into_bytes(),
        "text/plain; charset=utf-8",
        "no-cache",
    ))
}

pub(crate) async fn tile(
    State(state): State<ApiState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Ok(Path((id, rest))) = p else {
        return Err(ApiError::not_found(NO_LOG));
    };
    let id = log_id(&id).ok_or_else(|| ApiError::not_found(NO_LOG))?;
    let tile = TilePath::parse(&format!("tile/{rest}")).ok_or_else(|| {
        ApiError::not_found(
            "no such tile: the paths are tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>] \
             (c2sp.org/tlog-tiles)",
        )
    })?;
    let data = state
        .read(move |s| {
            tile_read::read_tile(s, &id, &tile).map_err(|e| match e {
                TileReadError::Store(e) => e.into(),
                TileReadError::NoLog => ApiError::not_found(NO_LOG),
                TileReadError::NotInTree => {
                    ApiError::not_found("no such tile in the tree of the log's latest checkpoint")
                }
                e @ TileReadError::EntryTooLong { .. } => ApiError {
                    status: StatusCode::CONFLICT,
                    code: "entry_too_long",
                    message: e.to_string(),
                },
                e @ TileReadError::Damaged(_) => ApiError::internal("reading a tile", &e),
                e @ TileReadError::Archived(_) => ApiError {
                    status: StatusCode::GONE,
                    code: "archived",
                    message: e.to_string(),
                },
            })
        })
        .await?;
    Ok(body(
        data,
        "application/octet-stream",
        "max-age=31536000, immutable",
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_uuid_names_a_log() {
        assert!(super::log_id("01a23c63-56d5-7365-8e99-238d52492e51").is_some());
        for bad in [
            "",
            "x",
            "01A23C63-56D5-7365-8E99-238D52492E51",
            "01a23c63-56d5-7365-8e99-238d52492e5",
            "01a23c63-56d5-7365-8e99-238d52492e51/",
            "01a23c6356d573658e99238d52492e51abcd",
            "../a23c63-56d5-7365-8e99-238d52492e51",
        ] {
            assert!(super::log_id(bad).is_none(), "{bad:?}");
        }
    }
}
