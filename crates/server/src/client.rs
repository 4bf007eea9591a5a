//! The API's client, for the commands that talk to a running berth (`berth logs/restart/scale/
//! mode`): plain HTTP to loopback through `ureq`, with the token when the server needs one.

use crate::error::{Error, ErrorKind};
use berth_core::timeline::Event;
use std::io::Read;

/// A client of one running server's API.
pub struct Client {
    /// `http://127.0.0.1:7700`
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// What the server answered: its status and body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Client {
    /// A client for the server at `authority` (`127.0.0.1:7700`).
    pub fn new(authority: &str, token: Option<String>) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        Client {
            base: format!("http://{authority}"),
            token: token.map(|t| t.trim().to_string()),
            agent,
        }
    }

    fn unreachable(&self, e: ureq::Error) -> Error {
        let what = format!("cannot reach berth's API at {}: {e}", self.base);
        Error::new(ErrorKind::Unreachable, what)
    }

    fn get_raw(&self, path: &str) -> Result<ureq::http::Response<ureq::Body>, Error> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        req.call().map_err(|e| self.unreachable(e))
    }

    /// A GET: the status and the whole body.
    pub fn get(&self, path: &str) -> Result<Answer, Error> {
        let resp = self.get_raw(path)?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        Ok(Answer { status, body })
    }

    /// A GET whose body is read as it arrives (server-sent events): `each` gets every chunk
    /// until it returns false or the server closes. Returns the status.
    pub fn stream(&self, path: &str, each: &mut dyn FnMut(&[u8]) -> bool) -> Result<u16, Error> {
        let resp = self.get_raw(path)?;
        let status = resp.status().as_u16();
        let mut reader = resp.into_body().into_reader();
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(status),
                Ok(n) if !each(&buf[..n]) => return Ok(status),
                Ok(_) => {}
                Err(e) => {
                    let what = format!("the stream from berth broke: {e}");
                    return Err(Error::new(ErrorKind::Unreachable, what));
                }
            }
        }
    }

    /// A POST whose answer is `{"ok":true,"message":...}` or `{"error":...}`.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Result<String, Error> {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = req
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if status == 200 {
            Ok(json["message"].as_str().unwrap_or("").to_string())
        } else {
            let message = json["error"].as_str().unwrap_or(&text);
            Err(Error::new(ErrorKind::Refused, message))
        }
    }
}

/// What a service's log stream brings.
pub enum LogEvent {
    Line(berth_core::view::LogLine),
    /// This many lines were dropped: the reader fell behind.
    Dropped(String),
    /// The end of a burst: a good moment to flush what was printed.
    Pause,
}

impl Client {
    /// A service's logs from the running berth: the lines it keeps, then (with `follow`) new
    /// lines as they come; `each` gets every event until it returns false.
    pub fn logs(
        &self,
        service: &str,
        follow: bool,
        each: &mut dyn FnMut(LogEvent) -> bool,
    ) -> Result<(), Error> {
        let path = format!("/api/v1/services/{service}/logs");
        if !follow {
            let answer = self.get(&path)?;
            if answer.status != 200 {
                return Err(api_error(answer.status, &answer.body, service));
            }
            let lines: Vec<berth_core::view::LogLine> = serde_json::from_str(&answer.body)
                .map_err(|e| Error::new(ErrorKind::Refused, format!("unexpected answer: {e}")))?;
            for l in lines {
                if !each(LogEvent::Line(l)) {
                    break;
                }
            }
            return Ok(());
        }
        let mut events = EventStream::default();
        let mut failed = None;
        let status = self.stream(&format!("{path}?follow=true"), &mut |bytes| {
            events.read(bytes, &mut |event, data| match event {
                "line" => match serde_json::from_str(data) {
                    Ok(l) => each(LogEvent::Line(l)),
                    Err(_) => true,
                },
                "dropped" => each(LogEvent::Dropped(data.to_string())),
                "" => each(LogEvent::Pause),
                _ => {
                    failed = Some(data.to_string());
                    true
                }
            })
        })?;
        if status != 200 {
            return Err(api_error(status, failed.as_deref().unwrap_or(""), service));
        }
        Ok(())
    }
}

impl Client {
    /// What happened in the running berth, oldest first; one service's when given.
    pub fn timeline(&self, service: Option<&str>) -> Result<Vec<Event>, Error> {
        let path = match service {
            Some(s) => format!("/api/v1/timeline?service={s}"),
            None => "/api/v1/timeline".to_string(),
        };
        let answer = self.get(&path)?;
        if answer.status != 200 {
            return Err(api_error(
                answer.status,
                &answer.body,
                service.unwrap_or(""),
            ));
        }
        serde_json::from_str(&answer.body)
            .map_err(|e| Error::new(ErrorKind::Refused, format!("unexpected answer: {e}")))
    }
}

/// The API's refusal of a request about `service`, with its own message.
fn api_error(code: u16, body: &str, service: &str) -> Error {
    let msg = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    if code == 404 {
        Error::new(ErrorKind::Refused, msg).hint(format!(
            "`berth status` lists the services (asked for {service:?})"
        ))
    } else {
        Error::new(
            ErrorKind::Refused,
            format!("berth up answered {code}: {msg}"),
        )
    }
}

/// Server-sent events read from chunks as they arrive: `(event, data)` for each `data:` line,
/// `("", "")` at each blank line (the end of an event).
#[derive(Default)]
struct EventStream {
    pending: String,
    event: String,
}

impl EventStream {
    fn read(&mut self, bytes: &[u8], each: &mut dyn FnMut(&str, &str) -> bool) -> bool {
        self.pending.push_str(&String::from_utf8_lossy(bytes));
        while let Some(i) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=i).collect();
            let line = line.trim_end_matches(['\r', '\n']);
            let go_on = if let Some(e) = line.strip_prefix("event:") {
                self.event = e.trim().to_string();
                true
            } else if let Some(data) = line.strip_prefix("data:") {
                each(&self.event, data.trim_start())
            } else if line.is_empty() {
                each("", "")
            } else {
                true
            };
            if !go_on {
                return false;
            }
        }
        true
    }
}
