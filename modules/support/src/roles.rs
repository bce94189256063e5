//! Who is calling, from the actor the host authenticated. The module trusts the host's
//! naming: only the platform can issue `support:` and `worker:` actors.

use nova_sdk::{Error, context};

/// The SLA watcher's actor.
pub const WATCHER: &str = "worker:support";
const SUPPORT_PREFIX: &str = "support:";

/// The three kinds of caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A user of the tenant that raised the ticket.
    Tenant,
    /// The platform's support team.
    Support,
    /// The SLA watcher, which only checks deadlines.
    Watcher,
}

impl Role {
    pub fn of(actor: &str) -> Self {
        if actor == WATCHER {
            Self::Watcher
        } else if actor.len() > SUPPORT_PREFIX.len() && actor.starts_with(SUPPORT_PREFIX) {
            Self::Support
        } else {
            Self::Tenant
        }
    }
}

fn forbidden(message: &str) -> Error {
    Error::new(403, "FORBIDDEN", message)
}

/// The caller's actor, if they may write to tickets. The watcher is refused so a
/// misbehaving watcher cannot pose as a tenant (its replies would not count as responses).
pub fn writer() -> Result<(String, Role), Error> {
    let actor = context::get().actor;
    match Role::of(&actor) {
        Role::Watcher => Err(forbidden("the SLA watcher cannot change tickets")),
        role => Ok((actor, role)),
    }
}

/// The caller's actor, if they are on the support team.
pub fn support() -> Result<String, Error> {
    let actor = context::get().actor;
    match Role::of(&actor) {
        Role::Support => Ok(actor),
        _ => Err(forbidden("only the support team can triage tickets")),
    }
}

/// Succeeds only for the SLA watcher.
pub fn watcher() -> Result<(), Error> {
    match Role::of(&context::get().actor) {
        Role::Watcher => Ok(()),
        _ => Err(forbidden("SLA checks come from the SLA watcher only")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_actor_names() {
        assert_eq!(Role::of("support:ops@example.com"), Role::Support);
        assert_eq!(Role::of("worker:support"), Role::Watcher);
        for tenant in [
            "user_42",
            "alice@bistro.example",
            "support:",
            "Support:ops",
            "worker:support2",
            "worker:billing",
            "",
        ] {
            assert_eq!(Role::of(tenant), Role::Tenant, "{tenant}");
        }
    }
}
