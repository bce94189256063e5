//! Webhooks from outside services: signature checks and delivery bookkeeping shared by every
//! provider (payments now, billing next).

pub mod deliveries;
pub mod signature;
