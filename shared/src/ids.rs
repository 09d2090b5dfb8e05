//! Random ids: of connections, writes, runs, events and proposals.

/// A fresh random id: 128 bits from the operating system's CSPRNG, in hex. Ids that grant
/// something (a proposal id) must not be guessable from earlier ones, so no seeded generator.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the operating system's random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_do_not_follow_a_seeded_generator() {
        fastrand::seed(42);
        let first = new_id();
        fastrand::seed(42);
        let second = new_id();
        assert_ne!(first, second);
        assert_eq!(first.len(), 32);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
