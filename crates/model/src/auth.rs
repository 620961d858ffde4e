//! Who may connect, publish and subscribe: the hook the broker consults.

/// What a connecting client presented.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// Client Identifier (after assignment, when the client sent none).
    pub client_id: &'a str,
    /// User Name, if sent.
    pub username: Option<&'a str>,
    /// Password, if sent.
    pub password: Option<&'a [u8]>,
}

/// Why a CONNECT is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong or missing user name or password.
    BadCredentials,
    /// Known, but not allowed to connect.
    NotAuthorized,
}

/// Decides access. The broker asks on CONNECT, on each PUBLISH it receives
/// (before routing), for each filter of a SUBSCRIBE, and before it sends a
/// message to a subscriber ([`deliver`](Authorizer::deliver)).
pub trait Authorizer: Send {
    /// May this client connect?
    fn connect(&mut self, who: &Credentials<'_>) -> Result<(), Refusal>;
    /// May this client publish to `topic`?
    fn publish(&mut self, client_id: &str, username: Option<&str>, topic: &str) -> bool;
    /// May this client subscribe to `filter`?
    fn subscribe(&mut self, client_id: &str, username: Option<&str>, filter: &str) -> bool;
    /// May this client receive a message published on `topic`? Asked for
    /// every PUBLISH the broker is about to send (whatever subscription it
    /// matched, and again for resent and queued messages), so a rule that
    /// denies part of a wildcard subscription, or a session resumed under
    /// another user name, is enforced per message. A denied message is not
    /// sent and not counted as sent. The default allows everything.
    fn deliver(&mut self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        let _ = (client_id, username, topic);
        true
    }
}

/// Lets everyone do everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn connect(&mut self, _who: &Credentials<'_>) -> Result<(), Refusal> {
        Ok(())
    }
    fn publish(&mut self, _client_id: &str, _username: Option<&str>, _topic: &str) -> bool {
        true
    }
    fn subscribe(&mut self, _client_id: &str, _username: Option<&str>, _filter: &str) -> bool {
        true
    }
}
