//! Client errors. Kafka error codes keep their protocol names so messages read like a
//! Java client's.

use thiserror::Error;

#[derive(Debug, Error, Clone)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("connection to {addr} closed: {message}")]
    Disconnected { addr: String, message: String },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("broker {addr} supports no version of {api} that this client speaks")]
    UnsupportedApi { addr: String, api: &'static str },
    #[error("Kafka error {code} ({name}){}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        code: i16,
        name: String,
        message: Option<String>,
    },
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Other(String),
}

impl ClientError {
    /// An error for a non-zero Kafka error code.
    pub fn kafka(code: i16, message: Option<String>) -> ClientError {
        let name = kafka_protocol::ResponseError::try_from_code(code)
            .map(|e| format!("{e:?}"))
            .unwrap_or_else(|| "UNKNOWN".into());
        ClientError::Kafka {
            code,
            name,
            message,
        }
    }

    /// The Kafka error's protocol name (`MESSAGE_TOO_LARGE`, as Kafka's `Errors` enum
    /// spells it), if this is a Kafka error.
    pub fn kafka_error_name(&self) -> Option<String> {
        match self {
            ClientError::Kafka { name, .. } if name == "UNKNOWN" => {
                Some("UNKNOWN_SERVER_ERROR".into())
            }
            ClientError::Kafka { name, .. } => Some(upper_snake(name)),
            _ => None,
        }
    }

    /// The Kafka error code, if this is a broker-reported error.
    pub fn code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying (after refreshing metadata) may succeed, as Kafka's
    /// RetriableException marks it.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => kafka_protocol::ResponseError::try_from_code(*code)
                .is_some_and(|e| e.is_retriable()),
            ClientError::Disconnected { .. }
            | ClientError::Connect { .. }
            | ClientError::Timeout(_) => true,
            _ => false,
        }
    }
}

/// Turns a Kafka error code into `Ok(())` or the error.
pub fn check(
    code: i16,
    message: Option<&kafka_protocol::protocol::StrBytes>,
) -> Result<(), ClientError> {
    if code == 0 {
        Ok(())
    } else {
        Err(ClientError::kafka(code, message.map(|m| m.to_string())))
    }
}

/// `TopicAlreadyExists` -> `TOPIC_ALREADY_EXISTS` (Kafka's `Errors` enum names).
pub fn upper_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
